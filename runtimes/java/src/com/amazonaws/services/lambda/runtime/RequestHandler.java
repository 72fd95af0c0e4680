package com.amazonaws.services.lambda.runtime;

/**
 * A handler of events deserialised to {@code I}, whose result of type {@code O} is
 * serialised to JSON.
 */
public interface RequestHandler<I, O> {
    O handleRequest(I input, Context context);
}
