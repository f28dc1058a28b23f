"""Billing: rating a closed cycle into charges, invoices, and splitting a bill.

Pure rules over integers (minor units, units, days); the service layer gathers a
cycle's facts (lines, usage, caps) and stores what these rules produce.
"""
