//! Table tests of the pattern engine: the examples of EventBridge's documentation and of
//! its open-source matcher's README, each against events that must and must not match, and
//! the patterns AWS refuses.

use lamina_pattern::Pattern;
use serde_json::{Value, json};

/// The sample event of EventBridge's matcher documentation.
fn ec2_event() -> Value {
    json!({
        "version": "0",
        "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "012345679012",
        "time": "2017-10-02T16:24:49Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
        "detail": {
            "c-count": 5,
            "d-count": 3,
            "x-limit": 301.8,
            "source-ip": "10.0.0.33",
            "instance-id": "i-000000aaaaaa00000",
            "state": "running"
        }
    })
}

fn check(pattern: Value, event: &Value, expected: bool) {
    let compiled =
        Pattern::from_value(&pattern).unwrap_or_else(|e| panic!("pattern {pattern} refused: {e}"));
    assert_eq!(
        compiled.matches(event),
        expected,
        "pattern {pattern} against {event}"
    );
}

#[test]
fn the_documented_examples_match_the_sample_event() {
    let event = ec2_event();
    let matching = [
        json!({"detail-type": ["EC2 Instance State-change Notification"],
               "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
               "detail": {"state": ["initializing", "running"]}}),
        json!({"time": [{"prefix": "2017-10-02"}]}),
        json!({"source": [{"suffix": "ec2"}]}),
        json!({"source": [{"equals-ignore-case": "AWS.EC2"}]}),
        json!({"source": [{"prefix": {"equals-ignore-case": "AWS."}}]}),
        json!({"source": [{"suffix": {"equals-ignore-case": "EC2"}}]}),
        json!({"detail-type": [{"wildcard": "EC2*State-change*"}]}),
        json!({"detail": {"state": [{"anything-but": "initializing"}]}}),
        json!({"detail": {"x-limit": [{"anything-but": 123}]}}),
        json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}),
        json!({"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}),
        json!({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}),
        json!({"detail": {"state": [{"anything-but": {"suffix": "ing-not"}}]}}),
        json!({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["STOPPED", "Pending"]}}]}}),
        json!({"detail": {"instance-id": [{"anything-but": {"wildcard": "*/lib/*"}}]}}),
        json!({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}],
                          "d-count": [{"numeric": ["<", 10]}],
                          "x-limit": [{"numeric": ["=", 3.018e2]}]}}),
        json!({"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}),
        json!({"detail": {"c-count": [{"exists": true}]}}),
        json!({"detail": {"nothing-here": [{"exists": false}]}}),
        json!({"time": [{"prefix": "2017-10-02"}],
               "detail": {"state": [{"anything-but": "initializing"}],
                          "c-count": [{"numeric": [">", 0, "<=", 5]}],
                          "d-count": [{"numeric": ["<", 10]}],
                          "x-limit": [{"anything-but": [100, 200, 300]}],
                          "source-ip": [{"cidr": "10.0.0.0/8"}]}}),
        json!({"source": ["aws.ec2"], "$or": [{"detail": {"state": ["stopped"]}},
                                              {"detail": {"c-count": [5]}}]}),
        // Several values: any one of them.
        json!({"region": ["eu-west-1", {"prefix": "us-"}]}),
    ];
    for pattern in matching {
        check(pattern, &event, true);
    }
}

#[test]
fn the_documented_examples_refuse_what_differs() {
    let event = ec2_event();
    let not_matching = [
        json!({"detail": {"state": ["initializing"]}}),
        json!({"time": [{"prefix": "2017-10-03"}]}),
        json!({"source": [{"suffix": "EC2"}]}),
        json!({"source": [{"equals-ignore-case": "aws.ec"}]}),
        json!({"detail-type": [{"wildcard": "EC2*Started*"}]}),
        json!({"detail": {"state": [{"anything-but": "running"}]}}),
        json!({"detail": {"state": [{"anything-but": ["stopped", "running"]}]}}),
        json!({"detail": {"state": [{"anything-but": {"prefix": "run"}}]}}),
        json!({"detail": {"state": [{"anything-but": {"equals-ignore-case": "RUNNING"}}]}}),
        json!({"detail": {"c-count": [{"numeric": [">", 5]}]}}),
        json!({"detail": {"c-count": [{"numeric": [">=", 0, "<", 5]}]}}),
        json!({"detail": {"x-limit": [{"numeric": ["=", 301.7]}]}}),
        json!({"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}),
        json!({"detail": {"c-count": [{"exists": false}]}}),
        json!({"detail": {"nothing-here": [{"exists": true}]}}),
        // Strings are not numbers, and numeric operators only see numbers.
        json!({"detail": {"c-count": ["5"]}}),
        json!({"detail": {"state": [{"numeric": [">", 0]}]}}),
        // A field the event lacks never matches a value.
        json!({"detail": {"missing": ["x"]}}),
        json!({"detail": {"missing": [{"anything-but": "x"}]}}),
        json!({"$or": [{"source": ["aws.s3"]}, {"detail": {"state": ["stopped"]}}]}),
    ];
    for pattern in not_matching {
        check(pattern, &event, false);
    }
}

#[test]
fn arrays_in_events_match_on_any_element_and_stay_consistent() {
    let event = json!({"employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        [{"firstName": "Peter", "lastName": "Jones"}]
    ], "tags": ["a", "b"], "nested": [[1, 2], [3]]});
    check(json!({"employees": {"firstName": ["Anna"]}}), &event, true);
    check(json!({"employees": {"firstName": ["Peter"]}}), &event, true);
    check(
        json!({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}),
        &event,
        true,
    );
    // Two fields from different elements of one array do not make a match.
    check(
        json!({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}),
        &event,
        false,
    );
    check(json!({"tags": ["b", "z"]}), &event, true);
    check(json!({"tags": ["z"]}), &event, false);
    check(json!({"tags": [{"anything-but": "a"}]}), &event, true);
    check(json!({"nested": [3]}), &event, true);
    check(json!({"nested": [{"numeric": [">", 3]}]}), &event, false);
    // The resources example of the documentation: the intersection is not empty.
    let resources = json!({"resources": [
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b:autoScalingGroupName/ASGTerminate",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"
    ]});
    check(
        json!({"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                             "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]}),
        &resources,
        true,
    );
}

#[test]
fn exists_sees_leaves_only() {
    let event = json!({"detail": {"c-count": {"c1": 100}, "empty": [], "none": null}});
    check(
        json!({"detail": {"c-count": [{"exists": false}]}}),
        &event,
        true,
    );
    check(
        json!({"detail": {"c-count": [{"exists": true}]}}),
        &event,
        false,
    );
    check(
        json!({"detail": {"c-count": {"c1": [{"exists": true}]}}}),
        &event,
        true,
    );
    check(
        json!({"detail": {"empty": [{"exists": false}]}}),
        &event,
        true,
    );
    check(
        json!({"detail": {"none": [{"exists": true}]}}),
        &event,
        true,
    );
    // A whole absent object: its leaves do not exist either.
    check(json!({"other": {"x": [{"exists": false}]}}), &event, true);
    check(json!({"other": {"x": [{"exists": true}]}}), &event, false);
}

#[test]
fn literals_are_compared_exactly() {
    let event = json!({"n": 300, "f": 300.0, "s": "300", "t": true, "z": null, "e": ""});
    check(json!({"n": [300]}), &event, true);
    check(json!({"n": [300.0]}), &event, false);
    check(json!({"f": [300.0]}), &event, true);
    check(json!({"s": [300]}), &event, false);
    check(json!({"s": ["300"]}), &event, true);
    check(json!({"t": [true]}), &event, true);
    check(json!({"t": ["true"]}), &event, false);
    check(json!({"z": [null]}), &event, true);
    check(json!({"e": [null]}), &event, false);
    check(json!({"e": [""]}), &event, true);
    check(json!({"missing": [null]}), &event, false);
    check(json!({"s": [{"prefix": ""}]}), &event, true);
    check(json!({"n": [{"prefix": "3"}]}), &event, false);
}

#[test]
fn or_groups_combine_with_the_other_fields() {
    let pattern = json!({
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"],
             "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
            {"scope": ["Service"]}
        ]
    });
    let cases = [
        (
            json!({"source": "aws.cloudwatch", "metricName": "ReadLatency"}),
            true,
        ),
        (
            json!({"source": "aws.cloudwatch", "scope": "Service"}),
            true,
        ),
        (
            json!({"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/ES", "spaceId": 1000}),
            true,
        ),
        (
            json!({"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/ES"}),
            false,
        ),
        (
            json!({"source": "aws.ec2", "metricName": "ReadLatency"}),
            false,
        ),
        (json!({"source": "aws.cloudwatch"}), false),
    ];
    for (event, expected) in cases {
        check(pattern.clone(), &event, expected);
    }
    // Parallel groups: one alternative of each.
    let parallel = json!({
        "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
        "detail": {"$or": [{"source": ["aws.cloudwatch"]}, {"detail-type": ["Alarm"]}]}
    });
    check(
        parallel.clone(),
        &json!({"namespace": "AWS/EC2", "detail": {"detail-type": "Alarm"}}),
        true,
    );
    check(
        parallel,
        &json!({"namespace": "AWS/EC2", "detail": {"detail-type": "Other"}}),
        false,
    );
    // `$or` that is not a list of two or more objects is an ordinary field name.
    check(json!({"$or": ["x"]}), &json!({"$or": "x"}), true);
    check(
        json!({"$or": {"a": ["b"]}}),
        &json!({"$or": {"a": "b"}}),
        true,
    );
}

#[test]
fn wildcards_escape_stars_and_backslashes() {
    let cases = [
        ("Simple*Service", "SimpleQueueService", true),
        ("Simple*Service", "SimpleService", true),
        ("Simple*Service", "SimpleServices", false),
        ("*", "", true),
        ("*.png", "dir/photo.png", true),
        ("*/lib/*", "/usr/lib/x.so", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "acb", false),
        ("a*ba", "aba", true),
        ("a*aa", "aa", false),
        ("ab\\*c", "ab*c", true),
        ("ab\\*c", "abxc", false),
        ("a\\\\b", "a\\b", true),
        ("é*ü", "éxyü", true),
        ("", "", true),
        ("", "x", false),
    ];
    for (wildcard, value, expected) in cases {
        check(
            json!({"f": [{"wildcard": wildcard}]}),
            &json!({"f": value}),
            expected,
        );
    }
}

#[test]
fn case_is_folded_beyond_ascii() {
    let event = json!({"city": "ÉVORA", "word": "Straße"});
    check(
        json!({"city": [{"equals-ignore-case": "évora"}]}),
        &event,
        true,
    );
    check(
        json!({"city": [{"prefix": {"equals-ignore-case": "év"}}]}),
        &event,
        true,
    );
    check(
        json!({"word": [{"suffix": {"equals-ignore-case": "SSE"}}]}),
        &event,
        false,
    );
    check(
        json!({"word": [{"suffix": {"equals-ignore-case": "ASSE"}}]}),
        &event,
        false,
    );
    check(
        json!({"word": [{"suffix": {"equals-ignore-case": "ße"}}]}),
        &event,
        true,
    );
}

#[test]
fn numeric_ranges_and_cidr_blocks() {
    let cases = [
        (json!([">", 0, "<=", 5]), json!(5), true),
        (json!([">", 0, "<=", 5]), json!(0), false),
        (json!([">=", 0, "<", 5]), json!(0), true),
        (json!([">=", -5e9, "<", 5e9]), json!(-5e9), true),
        (json!(["<", 10]), json!(9.999), true),
        (json!(["=", 1]), json!(1.0), true),
        (json!([">", 1.5]), json!("2"), false),
    ];
    for (range, value, expected) in cases {
        check(
            json!({"n": [{"numeric": range}]}),
            &json!({"n": value}),
            expected,
        );
    }
    let cidrs = [
        ("10.0.0.0/24", "10.0.0.255", true),
        ("10.0.0.0/24", "10.0.1.0", false),
        ("0.0.0.0/0", "192.168.1.1", true),
        ("192.168.1.7/32", "192.168.1.7", true),
        ("2001:db8::/32", "2001:db8:1::5", true),
        ("2001:db8::/32", "2001:db9::5", false),
        ("10.0.0.0/8", "2001:db8::1", false),
        ("10.0.0.0/8", "not an address", false),
    ];
    for (cidr, address, expected) in cidrs {
        check(
            json!({"ip": [{"cidr": cidr}]}),
            &json!({"ip": address}),
            expected,
        );
    }
}

#[test]
fn refused_patterns_say_why() {
    let refused = [
        ("[]", "not an object"),
        ("{\"a\": [\"x\"]", "not valid JSON"),
        ("{}", "Empty objects"),
        ("{\"a\": []}", "Empty arrays"),
        ("{\"a\": {}}", "Empty objects"),
        ("{\"a\": \"x\"}", "must be an object or an array"),
        ("{\"a\": [[1]]}", "Arrays are not allowed"),
        (
            "{\"a\": [{\"prefix\": \"x\", \"suffix\": \"y\"}]}",
            "exactly one key",
        ),
        (
            "{\"a\": [{\"contains\": \"x\"}]}",
            "Unrecognized match type contains",
        ),
        ("{\"a\": [{\"prefix\": 1}]}", "prefix match pattern"),
        (
            "{\"a\": [{\"wildcard\": \"a**b\"}]}",
            "Consecutive wildcard",
        ),
        ("{\"a\": [{\"wildcard\": \"a\\\\b\"}]}", "Invalid escape"),
        (
            "{\"a\": [{\"anything-but\": [\"x\", 1]}]}",
            "strings only or numbers only",
        ),
        ("{\"a\": [{\"anything-but\": []}]}", "anything but list"),
        (
            "{\"a\": [{\"anything-but\": {\"numeric\": [\">\", 1]}}]}",
            "Unsupported anything-but",
        ),
        ("{\"a\": [{\"anything-but\": true}]}", "anything-but takes"),
        (
            "{\"a\": [{\"numeric\": [\">\", \"1\"]}]}",
            "must be numeric",
        ),
        (
            "{\"a\": [{\"numeric\": [\">\", 1, \">\", 2]}]}",
            "Bad numeric range",
        ),
        (
            "{\"a\": [{\"numeric\": [\">\", 5, \"<\", 2]}]}",
            "Bad numeric range",
        ),
        (
            "{\"a\": [{\"numeric\": [\"=\", 1, \"<\", 2]}]}",
            "Unrecognized numeric range operator",
        ),
        (
            "{\"a\": [{\"numeric\": [\"!\", 1]}]}",
            "Unrecognized numeric range operator",
        ),
        (
            "{\"a\": [{\"numeric\": [\">\"]}]}",
            "numeric must be an array",
        ),
        ("{\"a\": [{\"exists\": \"yes\"}]}", "exists match pattern"),
        ("{\"a\": [{\"cidr\": \"10.0.0.0/33\"}]}", "Nonstandard IP"),
        ("{\"a\": [{\"cidr\": \"10.0.0\"}]}", "Nonstandard IP"),
        ("{\"$or\": [{\"a\": [\"x\"]}, {}]}", "Empty objects"),
    ];
    for (text, reason) in refused {
        let error = Pattern::parse(text).expect_err(text).to_string();
        assert!(
            error.starts_with("Event pattern is not valid. Reason: ") && error.contains(reason),
            "{text}: {error}"
        );
    }
}
