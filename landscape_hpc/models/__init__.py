"""Networks, activations, initial points and losses with exact derivatives."""
