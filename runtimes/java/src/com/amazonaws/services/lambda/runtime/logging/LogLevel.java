package com.amazonaws.services.lambda.runtime.logging;

/** Lambda's log levels, lowest first. */
public enum LogLevel {
    UNDEFINED,
    TRACE,
    DEBUG,
    INFO,
    WARN,
    ERROR,
    FATAL;

    /** The level named {@code name} (any case); UNDEFINED for anything else. */
    public static LogLevel fromString(String name) {
        if (name == null) {
            return UNDEFINED;
        }
        try {
            return valueOf(name.trim().toUpperCase());
        } catch (IllegalArgumentException e) {
            return UNDEFINED;
        }
    }
}
