"""riskcontrol: campus safety risk-control and crisis-response command system."""

__version__ = "0.1.0"
