"""A plain FastAPI app. Nothing here knows about Lambda: lwa turns events into HTTP requests."""

import asyncio

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

app = FastAPI()


@app.get("/")
def hello():
    return {"message": "Hello from FastAPI!"}


@app.get("/items/{item_id}")
def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q}


@app.get("/stream")
async def stream():
    """Server-sent events, one every 100 ms: with response streaming each arrives as sent."""
    async def events():
        for i in range(5):
            yield f"id: {i}\ndata: event {i}\n\n"
            await asyncio.sleep(0.1)
        yield "event: done\ndata: bye\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})
