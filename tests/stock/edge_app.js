// A stock Node.js `http` app with the answers that broke lwa at the app edge: 103 Early Hints
// and 102 Processing before the real answer, and an early 413 that never reads the upload.
'use strict';
const http = require('http');

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const user = url.searchParams.get('user') || 'nobody';
  if (url.pathname === '/healthz') {
    res.end('ok');
  } else if (url.pathname === '/hints') {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    setTimeout(() => {
      res.writeHead(200, { 'Content-Type': 'text/html', 'Set-Cookie': `session=${user}; HttpOnly` });
      res.end(`<p>page for ${user}</p>`);
    }, 20);
  } else if (url.pathname === '/processing') {
    res.writeProcessing();
    setTimeout(() => res.end(`done for ${user}`), 20);
  } else if (url.pathname === '/hints-upload') {
    // Early Hints first, then the whole body is read: the client must keep sending it.
    res.writeEarlyHints({ link: '</app.js>; rel=preload; as=script' });
    let n = 0;
    req.on('data', (c) => { n += c.length; });
    req.on('end', () => res.end(`read ${n} bytes for ${user}`));
  } else if (url.pathname === '/upload') {
    // Refuse a big body from its Content-Length alone, as body-size limits do: answer and close
    // without reading it.
    if (Number(req.headers['content-length'] || 0) > 1024 * 1024) {
      res.writeHead(413, { 'Content-Type': 'text/plain', Connection: 'close' });
      res.end('upload too large');
      return;
    }
    let n = 0;
    req.on('data', (c) => { n += c.length; });
    req.on('end', () => res.end(`got ${n} bytes`));
  } else {
    res.end(`echo ${url.pathname} for ${user}`);
  }
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.env.PORT), '127.0.0.1');
