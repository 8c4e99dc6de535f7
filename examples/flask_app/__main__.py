"""`python -m examples.flask_app`: the Flask example in one process, upstream included.

It starts the echo service on a free loopback port, sends a few requests through Flask's
test client and prints the answers. To serve the app for real, see the package docstring.
"""

from __future__ import annotations

from examples.flask_app import create_app
from examples.upstream import EchoClient, serve_upstream


def main() -> None:
    with serve_upstream() as url:
        upstream = EchoClient(url)
        app = create_app(upstream)
        app.testing = True  # let a failing view raise here instead of answering 500
        try:
            with app.test_client() as browser:
                for word in ("hello", "bonjour", "hola"):
                    answer = browser.get("/echo", query_string={"value": word}).get_json()
                    print(f"{word} -> {answer['value']} (worker loop in pid {answer['pid']})")
        finally:
            upstream.close()


if __name__ == "__main__":
    main()
