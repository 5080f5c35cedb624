"""One module per CLI verb; `edge_runtime/cli.py` registers them on the Typer app."""
