"""The web layer: the FastAPI application for HTTP (templates, history, charts, health, metrics, the Admin UI).

- `api`: the application and its routes;
- `charts`: aggregates and downsampled series for plots;
- `problems`: refusals as JSON problem bodies naming the parameter;
- `admin_ui`: the Socket.IO Admin UI's files, served at /admin-ui/.
"""
