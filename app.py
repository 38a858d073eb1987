"""Serve the Isnad app: `python app.py [--host 127.0.0.1] [--port 7860] [--index-dir data/index]`."""

from rag.interfaces.app import main

if __name__ == "__main__":
    main()
