// A plain Express app. Nothing here knows about Lambda: lwa turns events into HTTP requests.
const express = require("express");

const app = express();
app.use(express.json());

app.get("/", (req, res) => {
  res.send("Hello from Express!\n");
});

app.post("/echo", (req, res) => {
  res.json(req.body ?? null);
});

// Non-HTTP events (SQS, S3, EventBridge...) arrive as POST /events with the event as JSON.
// For SQS, answer the messages that failed, so only those are retried.
app.post("/events", (req, res) => {
  const records = (req.body && req.body.Records) || [];
  for (const record of records) {
    console.log(`message ${record.messageId}: ${record.body}`);
  }
  res.json({ batchItemFailures: [] });
});

const port = Number.parseInt(process.env.PORT || "8080", 10);
const server = app.listen(port, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${port}`);
});

// Lambda sends SIGTERM before it shuts the environment down.
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
});
