//! JUnit XML as CI reads it: `sigbench run --junit` on a passing and a failing scenario,
//! parsed with an XML parser; and the writer's escaping of hostile text.

mod procs;

use procs::{TempDir, call_scenario, sigbench};
use roxmltree::{Document, Node};
use sigbench::report::{JunitCase, JunitReport, JunitSuite, Outcome};

fn attr<'a>(node: Node<'a, '_>, name: &str) -> &'a str {
    node.attribute(name)
        .unwrap_or_else(|| panic!("<{}> lacks {name}", node.tag_name().name()))
}

fn count(node: Node, name: &str) -> usize {
    attr(node, name).parse().expect("a count")
}

fn children<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> Vec<Node<'a, 'i>> {
    node.children().filter(|c| c.has_tag_name(tag)).collect()
}

/// `name` → the testcase, in a suite.
fn case<'a, 'i>(suite: Node<'a, 'i>, name: &str) -> Node<'a, 'i> {
    children(suite, "testcase")
        .into_iter()
        .find(|c| attr(*c, "name") == name)
        .unwrap_or_else(|| panic!("no testcase '{name}'"))
}

#[test]
fn run_writes_a_suite_per_scenario_with_steps_failure_kinds_and_thresholds() {
    let dir = TempDir::new("junit");
    let good = dir.write("good.yaml", &call_scenario("junit-good", 4, false, ""));
    let bad = dir.write(
        "bad.yaml",
        &call_scenario(
            "junit-bad",
            4,
            true,
            "  call: { max: 1us }\n  failures: 10\n",
        ),
    );
    let xml_path = dir.join("junit.xml");
    let out = sigbench(
        &dir,
        &[
            "run",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
            "--quiet",
            "--no-html",
            "--report-dir",
            dir.join("reports").to_str().unwrap(),
            "--junit",
            xml_path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.text());
    let xml = std::fs::read_to_string(&xml_path).expect("the JUnit file exists");
    let doc = Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert!(root.has_tag_name("testsuites"));
    let suites = children(root, "testsuite");
    let names: Vec<&str> = suites.iter().map(|s| attr(*s, "name")).collect();
    assert_eq!(names, ["junit-good", "junit-bad"]);
    for key in ["tests", "failures", "errors", "skipped"] {
        let sum: usize = suites.iter().map(|s| count(*s, key)).sum();
        assert_eq!(count(root, key), sum, "{key} adds up");
    }
    for suite in &suites {
        let cases = children(*suite, "testcase");
        assert_eq!(count(*suite, "tests"), cases.len());
        let failing = cases
            .iter()
            .filter(|c| !children(**c, "failure").is_empty())
            .count();
        assert_eq!(count(*suite, "failures"), failing);
        assert!(attr(*suite, "timestamp").len() == 19, "{xml}");
        assert!(!children(*suite, "properties").is_empty());
    }

    // The passing scenario: a passing case per step, nothing else.
    let good = suites[0];
    assert_eq!(count(good, "failures"), 0);
    for step in ["login", "session", "call", "invite delivered", "hang up"] {
        let c = case(good, step);
        assert_eq!(attr(c, "classname"), "junit-good.steps");
        assert!(children(c, "failure").is_empty());
        let out = children(c, "system-out")[0].text().unwrap_or_default();
        assert!(out.contains(" latencies: p50 "), "{out}");
    }

    // The failing scenario: steps that held pass, the broken step is a failing case per
    // kind with expected vs got and sample frames, and each threshold is a case.
    let bad = suites[1];
    assert!(children(case(bad, "call"), "failure").is_empty());
    let kind = case(
        bad,
        "hang up [caller]: expected 10404 ROOM_NOT_EXISTS, got 200 OK",
    );
    let failure = children(kind, "failure")[0];
    let message = attr(failure, "message");
    assert!(message.contains("expected 10404"), "{message}");
    assert!(message.contains("4 times in 4 sessions"), "{message}");
    let details = failure.text().unwrap_or_default();
    assert!(details.contains("sample 1: session"), "{details}");
    assert!(details.contains("-> {\"id\""), "the sent frame: {details}");
    assert!(details.contains("<- {\""), "the received frame: {details}");
    let impossible = case(bad, "call max <= 1µs");
    assert_eq!(attr(impossible, "classname"), "junit-bad.thresholds");
    let message = attr(children(impossible, "failure")[0], "message");
    assert!(
        message.starts_with("max of call must be <= 1µs, observed "),
        "{message}"
    );
    let held = case(bad, "failures <= 10");
    assert!(children(held, "failure").is_empty());
    assert_eq!(
        children(held, "system-out")[0].text(),
        Some("observed 4, limit <= 10")
    );
}

#[test]
fn hostile_text_is_escaped_and_round_trips() {
    let nasty = "<script>\"a\" & 'b'</script>\n\tline\u{1b}[31m]]>";
    let suite = JunitSuite {
        name: nasty.to_owned(),
        properties: vec![("k".to_owned(), nasty.to_owned())],
        cases: vec![
            JunitCase::new(
                nasty,
                nasty,
                Outcome::Fail {
                    message: nasty.to_owned(),
                    details: nasty.to_owned(),
                },
            ),
            JunitCase::new(
                "c",
                "errored",
                Outcome::Error {
                    message: "m".to_owned(),
                    details: String::new(),
                },
            ),
            JunitCase::new(
                "c",
                "skipped",
                Outcome::Skip {
                    reason: nasty.to_owned(),
                },
            ),
        ],
        system_err: Some(nasty.to_owned()),
        ..JunitSuite::default()
    };
    let report = JunitReport {
        name: "t".to_owned(),
        suites: vec![suite],
    };
    let xml = report.to_xml();
    let doc = Document::parse(&xml).expect("escaped output is well-formed");
    // The escape character is not allowed in XML; it is written visibly instead.
    let visible = nasty.replace('\u{1b}', "\\u{1b}");
    let suite = children(doc.root_element(), "testsuite")[0];
    assert_eq!(attr(suite, "name"), visible);
    assert_eq!((count(suite, "tests"), count(suite, "failures")), (3, 1));
    assert_eq!((count(suite, "errors"), count(suite, "skipped")), (1, 1));
    let c = children(suite, "testcase")[0];
    assert_eq!(attr(c, "name"), visible);
    let failure = children(c, "failure")[0];
    assert_eq!(attr(failure, "message"), visible);
    assert_eq!(failure.text(), Some(visible.as_str()));
    let skipped = children(children(suite, "testcase")[2], "skipped")[0];
    assert_eq!(attr(skipped, "message"), visible);
    assert!(!xml.contains("<script>"));
}
