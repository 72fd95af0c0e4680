package lamina.runtime;

import com.amazonaws.services.lambda.runtime.LambdaRuntimeInternal;

import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Lamina's runtime for the managed {@code javaN} runtimes, with the JDK alone: loads the
 * handler named by {@code _HANDLER} once per environment, then loops on the Runtime API,
 * giving each event to the handler and its result (or its exception, in the shape Lambda's
 * Java runtime gives: {@code errorMessage}, {@code errorType} the exception's class,
 * {@code stackTrace} as {@code class.method(File.java:line)}, and the {@code cause}) back.
 *
 * <p>Started ahead of time ({@code LAMINA_AWAIT_FUNCTION=stdin}), it first waits for its
 * function: see {@link Await}. Compiled when Lamina is built and embedded in its binary.
 */
public final class Bootstrap {
    private Bootstrap() {}

    public static void main(String[] args) throws Exception {
        PrintStream stdout = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        System.setOut(stdout);
        System.setErr(new PrintStream(new FileOutputStream(FileDescriptor.err), true, "UTF-8"));
        // bootstrap.sh may name the jar relative to /var/task (for the class-data sharing
        // archive); what functions see is where it is, as in Lambda.
        System.setProperty("java.class.path",
                Paths.get(System.getProperty("java.class.path")).toAbsolutePath().normalize().toString());
        String awaiting = Await.library();
        if (awaiting != null) {
            Await.function(awaiting);
        }
        Logger logger = new Logger(stdout);
        LambdaRuntimeInternal.setLogger(logger);
        RuntimeApi api = new RuntimeApi(System.getenv("AWS_LAMBDA_RUNTIME_API"));
        String taskRoot = System.getenv().getOrDefault("LAMBDA_TASK_ROOT", "/var/task");

        Handler handler;
        try {
            ClassLoader loader = Handler.loader(taskRoot);
            Thread.currentThread().setContextClassLoader(loader);
            handler = Handler.load(loader, System.getenv("_HANDLER"));
        } catch (Handler.LoadError e) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("errorMessage", e.getMessage());
            doc.put("errorType", e.errorType);
            doc.put("stackTrace", e.getCause() == null ? Collections.emptyList() : frames(e.getCause()));
            logger.log(e.getMessage() + ": " + e.errorType);
            postError(api, "/init/error", doc);
            System.exit(1);
            return;
        } catch (Throwable t) {
            Map<String, Object> doc = document(t);
            logger.log(describe(t));
            postError(api, "/init/error", doc);
            System.exit(1);
            return;
        }

        while (true) {
            RuntimeApi.Response next = api.get("/invocation/next");
            if (next.status != 200) {
                System.exit(0);
            }
            Invocation invocation = new Invocation(next, logger);
            String id = invocation.getAwsRequestId();
            logger.setRequestId(id);
            if (invocation.traceId() != null) {
                System.setProperty("com.amazonaws.xray.traceHeader", invocation.traceId());
            } else {
                System.clearProperty("com.amazonaws.xray.traceHeader");
            }
            Map<String, Object> error;
            try {
                Handler.Outcome outcome = handler.invoke(next.body, invocation);
                Map<String, String> headers = Collections.singletonMap("Content-Type", "application/json");
                api.post("/invocation/" + id + "/response", outcome.body, headers);
                continue;
            } catch (Handler.Thrown e) {
                Throwable t = e.getCause();
                error = document(t);
                logger.log(describe(t));
            } catch (Handler.Unreadable e) {
                error = new LinkedHashMap<>();
                error.put("errorMessage", "An error occurred during JSON parsing");
                error.put("errorType", "java.lang.RuntimeException");
                error.put("stackTrace", Collections.emptyList());
                Map<String, Object> cause = new LinkedHashMap<>();
                cause.put("errorMessage", String.valueOf(e.getCause().getMessage()));
                cause.put("errorType", "java.io.UncheckedIOException");
                cause.put("stackTrace", Collections.emptyList());
                error.put("cause", cause);
                logger.log("An error occurred during JSON parsing: java.lang.RuntimeException\r"
                        + e.getCause().getMessage());
            } catch (RuntimeException e) {
                // The result could not be written as JSON.
                error = new LinkedHashMap<>();
                error.put("errorMessage", "Unable to serialize the response: " + e.getMessage());
                error.put("errorType", "Runtime.MarshalError");
                error.put("stackTrace", Collections.emptyList());
                logger.log(error.get("errorMessage") + ": Runtime.MarshalError");
            } catch (StackOverflowError | OutOfMemoryError e) {
                error = document(e);
                logger.log(describe(e));
            }
            postError(api, "/invocation/" + id + "/error", error);
        }
    }

    private static void postError(RuntimeApi api, String path, Map<String, Object> doc) throws Exception {
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("Content-Type", "application/json");
        headers.put("Lambda-Runtime-Function-Error-Type", String.valueOf(doc.get("errorType")));
        api.post(path, Json.write(doc).getBytes(StandardCharsets.UTF_8), headers);
    }

    /** A throwable as Lambda's Java runtime reports it, with its causes. */
    static Map<String, Object> document(Throwable t) {
        return document(t, 0);
    }

    private static Map<String, Object> document(Throwable t, int depth) {
        Map<String, Object> doc = new LinkedHashMap<>();
        if (t.getMessage() != null) {
            doc.put("errorMessage", t.getMessage());
        }
        doc.put("errorType", t.getClass().getName());
        doc.put("stackTrace", frames(t));
        Throwable cause = t.getCause();
        if (cause != null && cause != t && depth < 16) {
            doc.put("cause", document(cause, depth + 1));
        }
        return doc;
    }

    /** The function's own frames: those of the runtime and of reflection are cut. */
    static List<String> frames(Throwable t) {
        List<String> out = new ArrayList<>();
        for (StackTraceElement e : t.getStackTrace()) {
            String cls = e.getClassName();
            if (cls.startsWith("lamina.runtime.") || cls.startsWith("jdk.internal.reflect.")
                    || cls.equals("java.lang.reflect.Method")) {
                continue;
            }
            String where = e.isNativeMethod() ? "Native Method"
                    : e.getFileName() == null ? "Unknown Source"
                    : e.getLineNumber() >= 0 ? e.getFileName() + ":" + e.getLineNumber() : e.getFileName();
            out.add(cls + "." + e.getMethodName() + "(" + where + ")");
        }
        return out;
    }

    /** The log event of a throwable: its message and type, then its frames, as one event. */
    private static String describe(Throwable t) {
        StringBuilder b = new StringBuilder();
        b.append(t.getMessage()).append(": ").append(t.getClass().getName());
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c != t) {
                b.append("\nCaused by: ").append(c);
            } else {
                b.append('\n').append(c);
            }
            for (String f : frames(c)) {
                b.append("\n\tat ").append(f);
            }
            if (b.length() > 65536) {
                break;
            }
        }
        return b.toString();
    }
}
