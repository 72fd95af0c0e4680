package lamina.runtime;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;

import java.util.Map;

/**
 * The handler a JVM started ahead of time rehearses with ({@link Await}): defined by a URL
 * class loader, found, bound and called as a function's handler is, before any function is
 * known.
 */
public final class Sample implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        return event;
    }
}
