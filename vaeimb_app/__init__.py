"""Streamlit glue for the dashboard: shared settings, cached loaders and progress display.

Kept outside ``vaeimb`` on purpose: the core package never imports Streamlit.
"""
