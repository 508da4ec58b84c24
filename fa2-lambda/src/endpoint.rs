//! The Slack endpoint's HTTP event, read leniently, and the response in its origin's shape.
//!
//! API Gateway (REST API, HTTP API), Function URLs and ALBs hand the function an HTTP request
//! as JSON. The endpoint needs only what Slack signs: the headers and the body bytes. The
//! request is not rebuilt as an `http::Request`: `lambda_http`'s conversion builds a URL from
//! the `Host` and `x-forwarded-proto` headers and decodes `isBase64Encoded` bodies with
//! `expect`, so a request that is not even authenticated (`Host: [::1`, `xn--a`, `a:99999`,
//! a body that is not base64) panicked and its caller got a 502 instead of a 401. Here a
//! header that is not a valid HTTP header is left out, and a body flagged base64 that is not
//! base64 is verified as sent: the Slack signature decides, so such requests get a 401, never
//! an error.

use base64::Engine;
use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use lambda_http::aws_lambda_events::alb::AlbTargetGroupResponse;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::aws_lambda_events::encodings::Body;
use serde_json::{Value, json};

/// Who sent the request, which decides the response's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// API Gateway REST API, or an HTTP API with payload format 1.0.
    RestApi,
    /// API Gateway HTTP API (payload format 2.0) or a Lambda Function URL.
    HttpApi,
    /// An Application Load Balancer target group.
    Alb,
}

/// An HTTP event, as much of it as the Slack endpoint uses.
#[derive(Debug)]
pub struct HttpEvent {
    pub origin: Origin,
    /// The headers that are valid HTTP headers (names lowercased).
    pub headers: HeaderMap,
    /// The body bytes; `Err` says why there are none to verify (a body that is no string).
    pub body: Result<Vec<u8>, String>,
    /// What was read leniently (headers left out, a body that was not the base64 it claimed).
    pub notes: Vec<String>,
}

/// Whether `event` has the shape of an HTTP event of any origin.
pub fn is_http(event: &Value) -> bool {
    event.get("requestContext").is_some()
        || event.get("httpMethod").is_some()
        || event.get("rawPath").is_some()
}

impl HttpEvent {
    /// Reads the event. Never fails: what cannot be read is left out or told in `body`.
    pub fn from_event(event: &Value) -> HttpEvent {
        let origin = if event.pointer("/requestContext/elb").is_some() {
            Origin::Alb
        } else if event.get("version").and_then(Value::as_str) == Some("2.0")
            || event
                .pointer("/requestContext/http")
                .is_some_and(Value::is_object)
            || event.get("rawPath").is_some()
        {
            Origin::HttpApi
        } else {
            Origin::RestApi
        };
        let mut headers = HeaderMap::new();
        let mut skipped = Vec::new();
        // REST APIs send both maps, ALBs the one their target group is set for, HTTP APIs and
        // Function URLs only `headers` (repeated headers joined by commas).
        if let Some(multi) = event.get("multiValueHeaders").and_then(Value::as_object) {
            for (name, values) in multi {
                let values: Vec<&Value> = match values {
                    Value::Array(vs) => vs.iter().collect(),
                    other => vec![other],
                };
                for v in values {
                    add_header(&mut headers, &mut skipped, name, v, true);
                }
            }
        }
        if let Some(single) = event.get("headers").and_then(Value::as_object) {
            for (name, v) in single {
                add_header(&mut headers, &mut skipped, name, v, false);
            }
        }
        let mut notes = Vec::new();
        if !skipped.is_empty() {
            notes.push(format!(
                "left out headers that are not valid HTTP: {}",
                skipped.join(", ")
            ));
        }
        let body = body(event, &mut notes);
        HttpEvent {
            origin,
            headers,
            body,
            notes,
        }
    }
}

fn add_header(
    headers: &mut HeaderMap,
    skipped: &mut Vec<String>,
    name: &str,
    value: &Value,
    append: bool,
) {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return,
    };
    let (Ok(name_h), Ok(value_h)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(&text),
    ) else {
        skipped.push(fa2_slack::mrkdwn::clip(name, 60));
        return;
    };
    if append {
        headers.append(name_h, value_h);
    } else if !headers.contains_key(&name_h) {
        headers.insert(name_h, value_h);
    }
}

/// The body bytes: `body` as text, or decoded from base64 when `isBase64Encoded` (as sent
/// when it is not base64: a signature over it decides).
fn body(event: &Value, notes: &mut Vec<String>) -> Result<Vec<u8>, String> {
    let encoded = match event.get("isBase64Encoded") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    match event.get("body") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if encoded => {
            match base64::engine::general_purpose::STANDARD.decode(s.trim()) {
                Ok(b) => Ok(b),
                Err(e) => {
                    notes.push(format!(
                        "isBase64Encoded is true but the body is not base64 ({e}); verified as sent"
                    ));
                    Ok(s.clone().into_bytes())
                }
            }
        }
        Some(Value::String(s)) => Ok(s.clone().into_bytes()),
        Some(other) => Err(format!(
            "the body is {}, not a string",
            match other {
                Value::Object(_) => "an object",
                Value::Array(_) => "an array",
                _ => "not text",
            }
        )),
    }
}

/// The response object for `origin` (REST API; HTTP API and Function URLs; ALB).
pub fn response(origin: Origin, status: StatusCode, body: String) -> Value {
    let mut headers = HeaderMap::new();
    if !body.is_empty() {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    let body = (!body.is_empty()).then_some(Body::Text(body));
    let code = i64::from(status.as_u16());
    // The event types are non-exhaustive: filled field by field.
    let value = match origin {
        Origin::RestApi => {
            let mut r = ApiGatewayProxyResponse::default();
            r.status_code = code;
            r.headers = headers.clone();
            r.multi_value_headers = headers;
            r.body = body;
            serde_json::to_value(r)
        }
        Origin::Alb => {
            let mut r = AlbTargetGroupResponse::default();
            r.status_code = code;
            r.status_description = Some(format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ));
            r.headers = headers.clone();
            r.multi_value_headers = headers;
            r.body = body;
            serde_json::to_value(r)
        }
        Origin::HttpApi => {
            let mut r = ApiGatewayV2httpResponse::default();
            r.status_code = code;
            r.headers = headers;
            r.body = body;
            serde_json::to_value(r)
        }
    };
    value.unwrap_or_else(|_| json!({"statusCode": code}))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The multi-value ALB request of aws/aws-lambda-rust-runtime
    /// `lambda-events/src/fixtures/example-alb-lambda-target-request-multivalue-headers.json`
    /// (the target group has multi-value headers on, so only `multiValueHeaders` is sent).
    fn alb_multivalue() -> Value {
        json!({
            "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda-target/abcdefgh"}},
            "httpMethod": "GET", "path": "/",
            "multiValueQueryStringParameters": {"key": ["hello"]},
            "multiValueHeaders": {
                "accept": ["*/*"], "connection": ["keep-alive"],
                "host": ["lambda-test-alb-1234567.us-east-1.elb.amazonaws.com"],
                "user-agent": ["curl/7.54.0"], "x-amzn-trace-id": ["Root=1-5c34e7d4-00ca239424b68028d4c56d68"],
                "x-forwarded-for": ["72.21.198.67"], "x-forwarded-port": ["80"],
                "x-forwarded-proto": ["http"], "x-imforwards": ["20"], "x-myheader": ["123"]
            },
            "body": "Some text", "isBase64Encoded": false
        })
    }

    /// A Function URL request with a base64 body, from aws/aws-lambda-go
    /// `lambdaurl/testdata/function-url-domain-only-request-with-base64-encoded-body.json`
    /// (captured from a real function and redacted there; some headers left out here).
    fn function_url_base64() -> Value {
        json!({
            "body": "PGlkay8+",
            "headers": {
                "accept": "*/*", "content-length": "6", "content-type": "idk",
                "host": "lambda-url-id.lambda-url.us-west-2.on.aws",
                "x-forwarded-port": "443", "x-forwarded-proto": "https"
            },
            "isBase64Encoded": true, "rawPath": "/", "rawQueryString": "",
            "requestContext": {
                "accountId": "aws-account-id", "apiId": "lambda-url-id", "authorizer": {"iam": {}},
                "domainName": "lambda-url-id.lambda-url.us-west-2.on.aws", "domainPrefix": "lambda-url-id",
                "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "python-requests/2.28.2"},
                "requestId": "9701a3d4-36ad-40bd-bf0b-a525c987d27f", "routeKey": "$default", "stage": "$default",
                "time": "18/Apr/2023:17:01:47 +0000", "timeEpoch": 1681837307386i64
            },
            "routeKey": "$default", "version": "2.0"
        })
    }

    #[test]
    fn real_shapes_are_read() {
        let e = HttpEvent::from_event(&alb_multivalue());
        assert_eq!(e.origin, Origin::Alb);
        assert_eq!(e.body.unwrap(), b"Some text");
        assert_eq!(e.headers["x-myheader"], "123");
        assert!(e.notes.is_empty());
        let e = HttpEvent::from_event(&function_url_base64());
        assert_eq!(e.origin, Origin::HttpApi);
        assert_eq!(e.body.unwrap(), b"<idk/>");
    }

    #[test]
    fn hostile_requests_are_read_without_panicking() {
        // what made lambda_http's conversion panic: hosts and schemes that are no URL part,
        // and a body that is not base64
        for (header, value) in [
            ("host", "xn--a"),
            ("host", "[::1"),
            ("host", "a:99999"),
            ("x-forwarded-proto", "ht tp"),
            ("x-forwarded-proto", "://"),
        ] {
            for mut event in [alb_multivalue(), function_url_base64()] {
                if let Some(m) = event["multiValueHeaders"].as_object_mut() {
                    m.insert(header.into(), json!([value]));
                } else {
                    event["headers"][header] = json!(value);
                }
                let e = HttpEvent::from_event(&event);
                assert_eq!(e.headers[header], value, "{header}: {value}");
                assert!(e.body.is_ok());
            }
        }
        let mut event = function_url_base64();
        event["body"] = json!("not base64!");
        let e = HttpEvent::from_event(&event);
        assert_eq!(e.body.unwrap(), b"not base64!");
        assert!(e.notes[0].contains("not base64"), "{:?}", e.notes);
        // headers that HTTP cannot carry are left out, the rest is kept
        let mut event = alb_multivalue();
        event["multiValueHeaders"]["bad name"] = json!(["x"]);
        event["multiValueHeaders"]["x-bad-value"] = json!(["a\nb"]);
        event["multiValueHeaders"]["x-number"] = json!([7]);
        event["multiValueHeaders"]["x-null"] = json!(null);
        let e = HttpEvent::from_event(&event);
        assert_eq!(
            e.notes,
            ["left out headers that are not valid HTTP: bad name, x-bad-value"]
        );
        assert_eq!(e.headers["x-number"], "7");
        assert_eq!(e.headers["x-myheader"], "123");
        // no body, an object body, a string isBase64Encoded
        let e = HttpEvent::from_event(&json!({"httpMethod": "POST", "headers": null}));
        assert_eq!((e.origin, e.body.unwrap()), (Origin::RestApi, Vec::new()));
        assert!(
            HttpEvent::from_event(&json!({"httpMethod": "POST", "body": {"a": 1}}))
                .body
                .is_err()
        );
        let e = HttpEvent::from_event(
            &json!({"rawPath": "/", "body": "YQ==", "isBase64Encoded": "true"}),
        );
        assert_eq!(e.body.unwrap(), b"a");
    }

    /// The nine HTTP samples of public event collections that made lambda_http's conversion
    /// panic, trimmed to what did it: a `Host` (or, without one, a `domainName`) that is no URL
    /// host, or `isBase64Encoded` on a body that is not base64.
    /// - aws/aws-lambda-rust-runtime `lambda-events/src/fixtures/example-apigw-console-request.json`
    ///   (`Host: 1234567890.execute-api.{dns_suffix}`);
    /// - aws/aws-lambda-go `events/testdata/lambda-urls-request.json` and
    ///   aws-powertools/powertools-lambda-python `tests/events/lambdaFunctionUrlIAMEvent.json`,
    ///   `lambdaFunctionUrlEvent.json`, `lambdaFunctionUrlEventPathTrailingSlash.json`,
    ///   `lambdaFunctionUrlEventWithHeaders.json` (`<url-id>.lambda-url.us-west-2.on.aws`);
    /// - powertools `apiGatewayProxyEventPathTrailingSlash.json`,
    ///   `apiGatewayProxyEventAnotherPath.json`, `apiGatewayProxyEvent_noVersionAuth.json`
    ///   (`isBase64Encoded: true`, `body: "Hello from Lambda!"`).
    #[test]
    fn samples_that_panicked_in_lambda_http() {
        let console = json!({
            "body": "{\"test\":\"body\"}", "resource": "/{proxy+}", "path": "/path/to/resource",
            "httpMethod": "POST", "isBase64Encoded": null,
            "headers": {"Host": "1234567890.execute-api.{dns_suffix}", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"},
            "requestContext": {"accountId": "123456789012", "resourceId": "123456", "stage": "prod", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "identity": {"sourceIp": "127.0.0.1"}, "resourcePath": "/{proxy+}", "httpMethod": "POST", "apiId": "1234567890", "protocol": "HTTP/1.1"}
        });
        let e = HttpEvent::from_event(&console);
        assert_eq!(e.origin, Origin::RestApi);
        assert_eq!(e.headers["host"], "1234567890.execute-api.{dns_suffix}");
        assert_eq!(e.body.unwrap(), b"{\"test\":\"body\"}");
        let url = json!({
            "version": "2.0", "rawPath": "/my/path", "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
            "cookies": ["cookie1", "cookie2"],
            "headers": {"header1": "value1", "header2": "value1,value2"},
            "requestContext": {"accountId": "123456789012", "apiId": "<urlid>", "domainName": "<url-id>.lambda-url.us-west-2.on.aws", "domainPrefix": "<url-id>",
                "http": {"method": "POST", "path": "/my/path", "protocol": "HTTP/1.1", "sourceIp": "123.123.123.123", "userAgent": "agent"},
                "requestId": "id", "routeKey": "$default", "stage": "$default", "time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390i64},
            "body": "Hello from client!", "pathParameters": null, "isBase64Encoded": false, "stageVariables": null
        });
        let e = HttpEvent::from_event(&url);
        assert_eq!(e.origin, Origin::HttpApi);
        assert_eq!(e.body.unwrap(), b"Hello from client!");
        let proxy = json!({
            "resource": "/my/path", "path": "/my/path", "httpMethod": "GET",
            "headers": {"Header1": "value1", "Header2": "value2"},
            "multiValueHeaders": {"Header1": ["value1"], "Header2": ["value1", "value2"]},
            "requestContext": {"accountId": "123456789012", "apiId": "id", "domainName": "id.execute-api.us-east-1.amazonaws.com", "domainPrefix": "id", "extendedRequestId": "request-id", "httpMethod": "GET", "path": "/my/path", "protocol": "HTTP/1.1", "requestId": "id=", "requestTime": "04/Mar/2020:19:15:17 +0000", "requestTimeEpoch": 1583349317135i64, "resourceId": null, "resourcePath": "/my/path", "stage": "$default"},
            "pathParameters": null, "stageVariables": null, "body": "Hello from Lambda!", "isBase64Encoded": true
        });
        let e = HttpEvent::from_event(&proxy);
        assert_eq!(e.origin, Origin::RestApi);
        assert_eq!(e.body.unwrap(), b"Hello from Lambda!");
        assert_eq!(e.headers.get_all("header2").iter().count(), 2);
        assert_eq!(e.notes.len(), 1, "{:?}", e.notes);
    }

    #[test]
    fn responses_take_the_origin_shape() {
        let r = response(Origin::RestApi, StatusCode::UNAUTHORIZED, String::new());
        assert_eq!(r["statusCode"], 401);
        assert!(r["multiValueHeaders"].is_object());
        let r = response(Origin::Alb, StatusCode::OK, "{}".into());
        assert_eq!(r["statusDescription"], "200 OK");
        assert_eq!(r["body"], "{}");
        let r = response(Origin::HttpApi, StatusCode::OK, "{}".into());
        assert_eq!(r["headers"]["content-type"], "application/json");
    }
}
