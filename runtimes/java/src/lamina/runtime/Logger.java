package lamina.runtime;

import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.logging.LogFormat;
import com.amazonaws.services.lambda.runtime.logging.LogLevel;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * The function's {@code LambdaLogger}: each call one log event (line breaks inside a
 * message become carriage returns, as Lambda's runtimes keep a multi-line message in one
 * event), as text or, with the JSON log format, one record of Lambda's Java shape
 * ({@code timestamp}, {@code level}, {@code message}, {@code AWSRequestId}); messages below
 * {@code AWS_LAMBDA_LOG_LEVEL} dropped.
 */
final class Logger implements LambdaLogger {
    private final PrintStream out;
    private final LogFormat format = LogFormat.fromString(System.getenv("AWS_LAMBDA_LOG_FORMAT"));
    private final LogLevel floor;
    private volatile String requestId;

    Logger(PrintStream out) {
        this.out = out;
        LogLevel level = LogLevel.fromString(System.getenv("AWS_LAMBDA_LOG_LEVEL"));
        this.floor = level == LogLevel.UNDEFINED ? LogLevel.TRACE : level;
    }

    void setRequestId(String id) {
        requestId = id;
    }

    @Override
    public void log(String message) {
        log(message, LogLevel.UNDEFINED);
    }

    @Override
    public void log(byte[] message) {
        log(new String(message, StandardCharsets.UTF_8), LogLevel.UNDEFINED);
    }

    @Override
    public void log(byte[] message, LogLevel level) {
        log(new String(message, StandardCharsets.UTF_8), level);
    }

    @Override
    public void log(String message, LogLevel level) {
        LogLevel l = level == null ? LogLevel.UNDEFINED : level;
        if (l != LogLevel.UNDEFINED && l.ordinal() < floor.ordinal()) {
            return;
        }
        String text = String.valueOf(message);
        String line;
        if (format == LogFormat.JSON) {
            StringBuilder b = new StringBuilder(text.length() + 120);
            b.append("{\"timestamp\":");
            Json.quote(b, Instant.now().toString());
            b.append(",\"level\":");
            Json.quote(b, l == LogLevel.UNDEFINED ? "INFO" : l.name());
            b.append(",\"message\":");
            Json.quote(b, text.endsWith("\n") ? text.substring(0, text.length() - 1) : text);
            if (requestId != null) {
                b.append(",\"AWSRequestId\":");
                Json.quote(b, requestId);
            }
            line = b.append('}').toString();
        } else {
            String body = text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
            body = body.replace('\n', '\r');
            line = l == LogLevel.UNDEFINED ? body : "[" + l.name() + "] " + body;
        }
        synchronized (out) {
            out.println(line);
            out.flush();
        }
    }
}
