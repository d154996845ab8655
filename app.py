"""Entry point of the dashboard: ``streamlit run app.py``.

Only navigation and the shared sidebar settings live here; each page is a thin file in
``pages/`` that draws what ``vaeimb`` computes.
"""

from vaeimb_app.settings import entered_through_app, start_app

navigation = start_app()  # page config, the pages (vaeimb_app.settings.PAGES), the sidebar, the link
with entered_through_app():  # the page can tell it runs through here (settings.through_app)
    navigation.run()
