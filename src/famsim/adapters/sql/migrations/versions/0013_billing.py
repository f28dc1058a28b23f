"""billing: invoices, lines, shares, credit notes, document sequences, split policies

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("cycle_number", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("split_rule", sa.String(length=16), nullable=False),
        sa.Column("tax_basis_points", sa.Integer(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("member_names", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_invoices_family_id_families")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_invoices")),
        sa.UniqueConstraint("family_id", "cycle_number", name=op.f("uq_invoices_family_id")),
    )
    op.create_table(
        "invoice_lines",
        sa.Column("invoice_number", sa.String(length=20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=True),
        sa.Column("minor", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_number"],
            ["invoices.number"],
            name=op.f("fk_invoice_lines_invoice_number_invoices"),
        ),
        sa.PrimaryKeyConstraint("invoice_number", "position", name=op.f("pk_invoice_lines")),
    )
    op.create_table(
        "invoice_shares",
        sa.Column("invoice_number", sa.String(length=20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_number"],
            ["invoices.number"],
            name=op.f("fk_invoice_shares_invoice_number_invoices"),
        ),
        sa.PrimaryKeyConstraint("invoice_number", "position", name=op.f("pk_invoice_shares")),
    )
    op.create_table(
        "credit_notes",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("invoice_number", sa.String(length=20), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("minor", sa.BigInteger(), nullable=False),
        sa.Column("shares", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_credit_notes_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_number"],
            ["invoices.number"],
            name=op.f("fk_credit_notes_invoice_number_invoices"),
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_credit_notes")),
    )
    op.create_index(
        op.f("ix_credit_notes_invoice_number"), "credit_notes", ["invoice_number"], unique=False
    )
    op.create_table(
        "document_sequences",
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "year", name=op.f("pk_document_sequences")),
    )
    op.create_table(
        "split_policies",
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("custom", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_split_policies_family_id_families")
        ),
        sa.PrimaryKeyConstraint("family_id", name=op.f("pk_split_policies")),
    )


def downgrade() -> None:
    op.drop_table("split_policies")
    op.drop_table("document_sequences")
    op.drop_index(op.f("ix_credit_notes_invoice_number"), table_name="credit_notes")
    op.drop_table("credit_notes")
    op.drop_table("invoice_shares")
    op.drop_table("invoice_lines")
    op.drop_table("invoices")
