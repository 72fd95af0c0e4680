package lamina.runtime;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The function's handler, found as Lambda's Java runtime finds it: {@code package.Class}
 * implementing {@code RequestHandler} or {@code RequestStreamHandler}, or
 * {@code package.Class::method} (a {@code package.Class} implementing neither means its
 * {@code handleRequest}) with one of the signatures Lambda accepts:
 * {@code (InputStream, OutputStream[, Context])}, {@code (I[, Context])} or {@code ()}.
 * Classes come from the task root (its classes, then {@code lib/*.jar}) and from layers'
 * {@code /opt/java/lib/*.jar}, through a loader whose parent holds the runtime and the
 * {@code com.amazonaws.services.lambda.runtime} interfaces, so that a jar that bundles
 * Lambda's library still meets the runtime's own.
 */
final class Handler {
    /** Why the handler could not be loaded: the init error's type and message. */
    static final class LoadError extends Exception {
        private static final long serialVersionUID = 1L;

        final String errorType;

        LoadError(String errorType, String message, Throwable cause) {
            super(message, cause);
            this.errorType = errorType;
        }
    }

    /** What the handler's method gives back. */
    static final class Outcome {
        final byte[] body;

        Outcome(byte[] body) {
            this.body = body;
        }
    }

    /** A thrown exception of the handler's own (not the runtime's). */
    static final class Thrown extends Exception {
        private static final long serialVersionUID = 1L;

        Thrown(Throwable cause) {
            super(cause);
        }
    }

    /** The event could not be made into the handler's input type. */
    static final class Unreadable extends Exception {
        private static final long serialVersionUID = 1L;

        Unreadable(Throwable cause) {
            super(cause);
        }
    }

    private final Object target;
    private final Method method;
    private final boolean stream;
    private final Type input;
    private final boolean withContext;

    private Handler(Object target, Method method, boolean stream, Type input, boolean withContext) {
        this.target = target;
        this.method = method;
        this.stream = stream;
        this.input = input;
        this.withContext = withContext;
    }

    static ClassLoader loader(String taskRoot) {
        List<URL> urls = new ArrayList<>();
        try {
            urls.add(new File(taskRoot).toURI().toURL());
            jars(new File(taskRoot, "lib"), urls);
            jars(new File("/opt/java/lib"), urls);
        } catch (MalformedURLException e) {
            throw new IllegalStateException(e);
        }
        // The platform loader's parent is the boot loader, which has the runtime (bootstrap.sh
        // puts it on the boot class path): no lookup goes through the application loader.
        return new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getPlatformClassLoader());
    }

    // No lambdas or method references in the runtime: each bootstraps a method handle at its
    // first use, milliseconds of a cold start.
    private static void jars(File dir, List<URL> into) throws MalformedURLException {
        String[] names = dir.list();
        if (names == null) {
            return;
        }
        Arrays.sort(names);
        for (String name : names) {
            if (name.endsWith(".jar")) {
                into.add(new File(dir, name).toURI().toURL());
            }
        }
    }

    static Handler load(ClassLoader loader, String name) throws LoadError {
        if (name == null || name.isEmpty()) {
            throw new LoadError("java.lang.RuntimeException", "No handler was given (_HANDLER is empty)", null);
        }
        int sep = name.indexOf("::");
        String className = sep < 0 ? name : name.substring(0, sep);
        String methodName = sep < 0 ? null : name.substring(sep + 2);
        if (methodName != null && methodName.isEmpty()) {
            throw new LoadError("java.lang.RuntimeException", "Invalid handler " + name
                    + ": the method after :: is empty", null);
        }
        Class<?> cls;
        try {
            cls = Class.forName(className, true, loader);
        } catch (ClassNotFoundException | NoClassDefFoundError e) {
            throw new LoadError("java.lang.ClassNotFoundException", "Class not found: " + className, e);
        } catch (ExceptionInInitializerError e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new LoadError(cause.getClass().getName(), String.valueOf(cause.getMessage()), cause);
        }
        if (methodName == null) {
            if (RequestStreamHandler.class.isAssignableFrom(cls)) {
                return new Handler(instance(cls), streamMethod(), true, null, true);
            }
            if (RequestHandler.class.isAssignableFrom(cls)) {
                return new Handler(instance(cls), requestMethod(), false, requestInput(cls), true);
            }
            // As Lambda's runtime: a class that implements neither is searched for a public
            // handleRequest method.
            methodName = "handleRequest";
        }
        Method best = null;
        int bestRank = -1;
        for (Method m : cls.getMethods()) {
            if (!m.getName().equals(methodName)) {
                continue;
            }
            int rank = rank(m);
            if (rank > bestRank) {
                best = m;
                bestRank = rank;
            }
        }
        if (best == null) {
            throw new LoadError("java.lang.RuntimeException", "No public method named " + methodName
                    + " with appropriate method signature found on class " + className, null);
        }
        Object target = Modifier.isStatic(best.getModifiers()) ? null : instance(cls);
        Class<?>[] params = best.getParameterTypes();
        boolean stream = params.length >= 2 && params[0] == InputStream.class && params[1] == OutputStream.class;
        boolean withContext = params.length > 0 && params[params.length - 1] == Context.class;
        Type in = !stream && params.length > 0 && params[0] != Context.class ? best.getGenericParameterTypes()[0] : null;
        return new Handler(target, best, stream, in, withContext);
    }

    /** Which of a name's overloads Lambda calls: the most specific signature it accepts. */
    private static int rank(Method m) {
        Class<?>[] p = m.getParameterTypes();
        boolean ctxLast = p.length > 0 && p[p.length - 1] == Context.class;
        if (p.length == 3 && p[0] == InputStream.class && p[1] == OutputStream.class && ctxLast) {
            return 6;
        }
        if (p.length == 2 && p[0] == InputStream.class && p[1] == OutputStream.class) {
            return 5;
        }
        if (p.length == 2 && ctxLast) {
            return 4;
        }
        if (p.length == 1) {
            return 3;
        }
        if (p.length == 0) {
            return 2;
        }
        return -1;
    }

    private static Object instance(Class<?> cls) throws LoadError {
        try {
            java.lang.reflect.Constructor<?> c = cls.getDeclaredConstructor();
            c.setAccessible(true);
            return c.newInstance();
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            throw new LoadError(cause.getClass().getName(), String.valueOf(cause.getMessage()), cause);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new LoadError("java.lang.RuntimeException", "Class " + cls.getName()
                    + " cannot be instantiated: it needs a public constructor without arguments", e);
        }
    }

    private static Method streamMethod() {
        try {
            return RequestStreamHandler.class.getMethod("handleRequest", InputStream.class, OutputStream.class,
                    Context.class);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Method requestMethod() {
        try {
            return RequestHandler.class.getMethod("handleRequest", Object.class, Context.class);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The {@code I} of the {@code RequestHandler<I, O>} that {@code cls} implements. */
    static Type requestInput(Class<?> cls) {
        for (Class<?> c = cls; c != null && c != Object.class; c = c.getSuperclass()) {
            List<Type> supers = new ArrayList<>(Arrays.asList(c.getGenericInterfaces()));
            supers.add(c.getGenericSuperclass());
            for (Type t : supers) {
                if (t instanceof ParameterizedType && ((ParameterizedType) t).getRawType() == RequestHandler.class) {
                    Type arg = ((ParameterizedType) t).getActualTypeArguments()[0];
                    return arg instanceof TypeVariable ? Object.class : arg;
                }
            }
        }
        return Object.class;
    }

    /** Calls the handler with the event's bytes. */
    Outcome invoke(byte[] event, Context context) throws Thrown, Unreadable {
        try {
            if (stream) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                InputStream in = new ByteArrayInputStream(event);
                if (withContext) {
                    method.invoke(target, in, out, context);
                } else {
                    method.invoke(target, in, out);
                }
                return new Outcome(out.toByteArray());
            }
            Object[] args;
            int n = method.getParameterCount();
            if (n == 0) {
                args = new Object[0];
            } else if (input == null) {
                args = new Object[] {context};
            } else {
                Object arg = argument(event);
                args = withContext ? new Object[] {arg, context} : new Object[] {arg};
            }
            Object result = method.invoke(target, args);
            if (method.getReturnType() == void.class) {
                return new Outcome("null".getBytes(StandardCharsets.UTF_8));
            }
            if (result instanceof InputStream) {
                return new Outcome(((InputStream) result).readAllBytes());
            }
            return new Outcome(Json.write(result).getBytes(StandardCharsets.UTF_8));
        } catch (InvocationTargetException e) {
            throw new Thrown(e.getCause());
        } catch (IllegalAccessException e) {
            throw new Thrown(e);
        } catch (java.io.IOException e) {
            throw new Thrown(e);
        }
    }

    private Object argument(byte[] event) throws Unreadable {
        Class<?> raw = Json.rawClass(input);
        if (raw == InputStream.class) {
            return new ByteArrayInputStream(event);
        }
        if (raw == byte[].class) {
            return event;
        }
        try {
            return Json.bind(Json.parse(new String(event, StandardCharsets.UTF_8)), input);
        } catch (RuntimeException e) {
            throw new Unreadable(e);
        }
    }
}
