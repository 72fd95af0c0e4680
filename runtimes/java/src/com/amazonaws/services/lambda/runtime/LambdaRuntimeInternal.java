package com.amazonaws.services.lambda.runtime;

/** What only the runtime (and Lambda's log4j2 appender) calls. */
public final class LambdaRuntimeInternal {
    private LambdaRuntimeInternal() {}

    private static volatile boolean useLog4jAppender;

    public static void setLogger(LambdaLogger logger) {
        LambdaRuntime.setLogger(logger);
    }

    public static void setUseLog4jAppender(boolean value) {
        useLog4jAppender = value;
    }

    public static boolean getUseLog4jAppender() {
        return useLog4jAppender;
    }
}
