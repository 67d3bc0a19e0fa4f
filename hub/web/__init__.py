"""The web layer: the FastAPI application for HTTP (templates, history, charts, health, metrics, Admin UI).

- `api`: the application, assembled from one router per area: `operations` (health, metrics), `catalog`
  (templates, the AsyncAPI document), `history` (the history log, with `charts`);
- `dependencies`: what routes are given (the hub, its metrics) and the role checks;
- `problems`: refusals as JSON problem bodies with the error's code, naming the parameter;
- `admin_ui`: the Socket.IO Admin UI's files, served at /admin-ui/.
"""
