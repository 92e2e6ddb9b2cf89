"""A Flask app for gunicorn: shows which cookies the request carried."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return "ok"


@app.get("/cookies")
def cookies():
    return jsonify(cookies=request.cookies, raw=request.headers.get("Cookie"))
