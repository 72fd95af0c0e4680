package lamina.runtime;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.CodeSigner;
import java.security.CodeSource;
import java.util.Arrays;
import java.util.Map;

/**
 * A runtime started ahead of time, before any function is known: the JVM started and a whole
 * invocation rehearsed with a sample handler, it waits on standard input for its function.
 * The platform attaches the code at {@code /var/task} and the layers at {@code /opt}, writes
 * the function's whole environment as one JSON object and closes the input; the runtime
 * then becomes what a runtime started for that function would be (its environment, its
 * working directory, {@code /dev/null} as input) and goes on as one.
 *
 * <p>Nothing before that may read the environment: the JVM reads it into
 * {@code System.getenv()} once, at the first call, and it must read the function's. So the
 * waiting runtime reads the signal in {@code /proc/self/environ}, and the classes whose
 * initialisers read the environment are loaded but not initialised. Its command line is that
 * of a runtime started for its function.
 */
final class Await {
    private Await() {}

    /** Replaces the environment and enters {@code dir}; 0 or the errno of what failed. */
    private static native int adopt(byte[] variables, byte[] dir);

    /**
     * The native library (beside the runtime's jar), when this runtime was started to wait
     * for its function ({@code LAMINA_AWAIT_FUNCTION=stdin}); else null. The signal is read
     * from the environment the process started with, not through {@code System.getenv()}.
     */
    static String library() throws IOException {
        byte[] start = Files.readAllBytes(Paths.get("/proc/self/environ"));
        byte[] signal = "LAMINA_AWAIT_FUNCTION=stdin".getBytes(StandardCharsets.US_ASCII);
        for (int at = 0; at < start.length; ) {
            int end = at;
            while (end < start.length && start[end] != 0) {
                end++;
            }
            if (end - at == signal.length
                    && Arrays.equals(start, at, end, signal, 0, signal.length)) {
                Path jar = Paths.get(System.getProperty("java.class.path")).toAbsolutePath();
                return jar.resolveSibling("liblamina-await.so").toString();
            }
            at = end + 1;
        }
        return null;
    }

    /** Waits for the function; returns once this process is the function's runtime. */
    static void function(String library) throws IOException {
        System.load(library);
        try {
            warm();
        } catch (IOException | RuntimeException | LinkageError e) {
            // The rehearsal only saves time: without it the function's first invocation pays
            // for what it would have loaded. Nothing is written: output before the function
            // is known would end up in its log.
        }
        byte[] input = System.in.readAllBytes();
        Object parsed = Json.parse(new String(input, StandardCharsets.UTF_8));
        if (!(parsed instanceof Map)) {
            throw new IOException("the function's environment is not a JSON object");
        }
        ByteArrayOutputStream block = new ByteArrayOutputStream(4096);
        String dir = "/var/task";
        for (Map.Entry<?, ?> e : ((Map<?, ?>) parsed).entrySet()) {
            String key = String.valueOf(e.getKey());
            String value = String.valueOf(e.getValue());
            if (key.equals("LAMBDA_TASK_ROOT")) {
                dir = value;
            }
            block.writeBytes((key + "=" + value).getBytes(StandardCharsets.UTF_8));
            block.write(0);
        }
        int errno = adopt(block.toByteArray(), dir.getBytes(StandardCharsets.UTF_8));
        if (errno != 0) {
            throw new IOException("could not take the function's environment: errno " + errno);
        }
    }

    /**
     * Runs once, before the function is known, what the first invocation would otherwise
     * pay for: loading the runtime's classes; a handler defined by a URL class loader, found
     * through its generic signature, bound from JSON, called and written back, three times;
     * a class loader over a directory; the Runtime API client's exchange; a stack trace.
     */
    private static void warm() throws IOException {
        ClassLoader own = ClassLoader.getPlatformClassLoader();
        for (String name : new String[] {
            "lamina.runtime.Invocation", "lamina.runtime.Logger", "lamina.runtime.RuntimeApi",
            "lamina.runtime.RuntimeApi$Response", "lamina.runtime.Handler$Thrown",
            "lamina.runtime.Handler$Unreadable", "lamina.runtime.Handler$LoadError",
        }) {
            try {
                Class.forName(name, false, own);
            } catch (ClassNotFoundException e) {
                throw new IOException(e);
            }
        }
        URL jar = Paths.get(System.getProperty("java.class.path")).toUri().toURL();
        try (Rehearsal loader = new Rehearsal(jar)) {
            loader.define("lamina.runtime.Sample");
            Handler sample = Handler.load(loader, "lamina.runtime.Sample");
            byte[] event = ("{\"a\":[1,2.5,-3e2,true,false,null],\"b\":{\"c\":\"d\\n\\u00e9\\\"\"},"
                    + "\"e\":\"\"}").getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < 3; i++) {
                sample.invoke(event, null);
            }
        } catch (Handler.LoadError | Handler.Thrown | Handler.Unreadable e) {
            throw new IOException(e);
        }
        try (URLClassLoader probe = new URLClassLoader(new URL[] {new File("/").toURI().toURL()}, own)) {
            probe.getResource("lamina-absent.class");
        }
        rehearseRuntimeApi();
        Bootstrap.frames(new Throwable());
    }

    /**
     * One exchange of the Runtime API client with a server of its own on loopback (the
     * sandbox's own network), which answers as the Runtime API does.
     */
    private static void rehearseRuntimeApi() throws IOException {
        InetAddress loopback = InetAddress.getByName("127.0.0.1");
        try (ServerSocket server = new ServerSocket(0, 1, loopback)) {
            Thread answer = new Thread(new Answer(server));
            answer.start();
            RuntimeApi api = new RuntimeApi("127.0.0.1:" + server.getLocalPort());
            RuntimeApi.Response response = api.get("/rehearsal");
            api.close();
            try {
                answer.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (response.status != 200) {
                throw new IOException("the rehearsal's Runtime API answered " + response.status);
            }
        }
    }

    /** The rehearsal's Runtime API: one request read, one invocation answered. */
    private static final class Answer implements Runnable {
        private final ServerSocket server;

        Answer(ServerSocket server) {
            this.server = server;
        }

        @Override
        public void run() {
            try (Socket peer = server.accept()) {
                InputStream in = peer.getInputStream();
                byte[] buffer = new byte[4096];
                int seen = 0;
                while (!new String(buffer, 0, seen, StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                    int n = in.read(buffer, seen, buffer.length - seen);
                    if (n < 0 || seen + n == buffer.length) {
                        return;
                    }
                    seen += n;
                }
                String body = "{\"k\":\"v\"}";
                String head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + "Lambda-Runtime-Aws-Request-Id: r\r\nContent-Length: " + body.length() + "\r\n\r\n";
                peer.getOutputStream().write((head + body).getBytes(StandardCharsets.ISO_8859_1));
            } catch (IOException e) {
                // The client then fails, and so does the rehearsal.
            }
        }
    }

    /** A class loader that defines the rehearsal's handler from the runtime's jar. */
    private static final class Rehearsal extends URLClassLoader {
        private final URL jar;

        Rehearsal(URL jar) {
            super(new URL[] {jar}, ClassLoader.getPlatformClassLoader());
            this.jar = jar;
        }

        void define(String name) throws IOException {
            String path = name.replace('.', '/') + ".class";
            try (InputStream in = ClassLoader.getSystemResourceAsStream(path)) {
                if (in == null) {
                    throw new IOException("no " + path);
                }
                byte[] bytes = in.readAllBytes();
                defineClass(name, bytes, 0, bytes.length, new CodeSource(jar, (CodeSigner[]) null));
            }
        }
    }
}
