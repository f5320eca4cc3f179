"""Where attachment bytes live (the claim check) and how Dify is let in to read them."""
