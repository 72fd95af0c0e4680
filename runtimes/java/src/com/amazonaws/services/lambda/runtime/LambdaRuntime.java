package com.amazonaws.services.lambda.runtime;

/** The function's logger, reachable without a context. */
public final class LambdaRuntime {
    private LambdaRuntime() {}

    private static volatile LambdaLogger logger = new LambdaLogger() {
        @Override
        public void log(String message) {
            System.out.print(message);
        }

        @Override
        public void log(byte[] message) {
            System.out.write(message, 0, message.length);
        }
    };

    public static LambdaLogger getLogger() {
        return logger;
    }

    /** Set by the runtime once it knows the log's format. */
    static void setLogger(LambdaLogger value) {
        logger = value;
    }
}
