"""``stylegan-fast serve``: the studio page and an HTTP render API that batches concurrent requests.

    from stylegan_fast.serve import create_app
    app = create_app(G, directions=["dirs.npz"], max_batch=32, max_wait_ms=5)   # an ASGI app
    uvicorn.run(app, host="127.0.0.1", port=7860)
"""
from .app import create_app

__all__ = ["create_app"]
