"""Adapters: each talks to one outside thing. The domain never imports them."""
