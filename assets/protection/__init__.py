"""Protected identity and the identity vault."""
