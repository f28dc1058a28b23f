"""famsim: family-sharing plans on eSIM lines for mobile operators and MVNOs."""

__version__ = "0.1.0"
