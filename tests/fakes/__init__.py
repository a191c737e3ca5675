"""Fakes at the model-API boundary: local servers that speak a vendor's wire format from a script."""
