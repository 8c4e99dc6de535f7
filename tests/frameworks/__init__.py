"""The library inside the frameworks users run it in: gunicorn + Flask, Django, Celery."""
