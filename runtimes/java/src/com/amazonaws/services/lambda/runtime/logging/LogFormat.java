package com.amazonaws.services.lambda.runtime.logging;

/** The function's log format (its LoggingConfig's LogFormat). */
public enum LogFormat {
    JSON,
    TEXT;

    /** The format named {@code name} (any case); TEXT for anything else. */
    public static LogFormat fromString(String name) {
        return name != null && name.trim().equalsIgnoreCase("JSON") ? JSON : TEXT;
    }
}
