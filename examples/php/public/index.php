<?php
// A plain PHP app. Nothing here knows about Lambda: lwa turns events into HTTP requests.
// run.sh serves it with PHP's built-in web server, every request routed through this file.
declare(strict_types=1);

function answer_json(mixed $value, int $status = 200): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
}

function log_line(string $line): void
{
    file_put_contents('php://stderr', $line . "\n");  // the function's log in Lambda
}

$method = $_SERVER['REQUEST_METHOD'];
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);

switch ("$method $path") {
    case 'GET /':
        header('Content-Type: text/plain; charset=utf-8');
        echo "Hello from PHP!\n";
        break;

    case 'GET /hello':
        answer_json(['greeting' => 'Hello, ' . ($_GET['name'] ?? 'world') . '!']);
        break;

    // An HTML form's POST (application/x-www-form-urlencoded or multipart/form-data).
    case 'POST /form':
        answer_json(['fields' => $_POST]);
        break;

    // Cookies both ways: the ones the browser sent, and two new ones.
    case 'GET /cookies':
        setcookie('session', 'abc123', ['path' => '/', 'httponly' => true]);
        setcookie('theme', 'dark', ['path' => '/']);
        answer_json(['received' => $_COOKIE]);
        break;

    // Non-HTTP events (SQS, S3, EventBridge...) arrive as POST /events with the event as JSON.
    // For SQS, answer the messages that failed, so only those are retried.
    case 'POST /events':
        $event = json_decode(file_get_contents('php://input'), true) ?? [];
        foreach ($event['Records'] ?? [] as $record) {
            log_line("message {$record['messageId']}: {$record['body']}");
        }
        answer_json(['batchItemFailures' => []]);
        break;

    default:
        answer_json(['error' => "no route for $method $path"], 404);
}
