"""One module per dashboard page; each runs its ``render`` when Streamlit executes it."""
