"""Channel adapters: each knows one protocol and nothing about tickets."""
