"""Training the built-in demo model: procedural faces (identikit), a residual discriminator, the loop."""
