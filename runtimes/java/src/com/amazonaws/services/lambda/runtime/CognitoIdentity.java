package com.amazonaws.services.lambda.runtime;

/** The Amazon Cognito identity of a caller that sent one. */
public interface CognitoIdentity {
    String getIdentityId();

    String getIdentityPoolId();
}
