//! The one-pass decoder against the `Value` decoder on good, odd and broken frames.

use super::*;

/// What the eager decoder makes of a frame, in the lazy decoder's terms.
fn eager(text: &str) -> Result<String, DecodeError> {
    Ok(match decode_server_frame(text)? {
        ServerFrame::Response(r) => format!("{r:?}"),
        ServerFrame::Push { kind, body } => {
            format!("{kind:?} {body:?} {:?}", events_of(kind, &body))
        }
    })
}

fn lazy(text: &str) -> Result<String, DecodeError> {
    Ok(match decode(text)? {
        Decoded::Reply(r) => format!("{r:?}"),
        Decoded::Push { kind, body, events } => format!("{kind:?} {body:?} {events:?}"),
    })
}

#[test]
fn reads_every_frame_as_the_value_decoder_does() {
    // The frame's object and 126 or 127 lists: at and past serde_json's nesting limit.
    let nested = |n: usize| {
        format!(
            r#"{{"id":1,"code":200,"message":"OK","data":{}1{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let (deep, too_deep) = (nested(126), nested(127));
    let frames = [
        r#"{"id":2,"code":200,"message":"OK","data":{"channel":{"channelId":"c-1","type":2},"members":[{"uid":7}]}}"#,
        r#"{"id":3,"code":200,"message":"OK"}"#,
        r#"{"id":3,"code":200,"message":"OK","data":null,"error":null}"#,
        r#"{"id":null,"code":400,"message":"BAD_FRAME","error":"why"}"#,
        r#"{"code":416,"message":"X","extra":[1,{"a":"\u00e9"}]}"#,
        r#"{"id":4,"code":200,"message":"OK","data":{"a":1},"data":{"b":2}}"#,
        r#"{"push":"notify","event":{"eventType":"INVITE","from":"a","requestId":"r"}}"#,
        r#"{"event":{"eventType":"ACCEPT"},"push":"notify"}"#,
        r#"{"push":"notify","event":{"eventType":"INVITE","eventType":"ACCEPT"}}"#,
        r#"{"push":"notify","event":{"eventType":"NOPE"}}"#,
        r#"{"push":"notify","event":{"eventType":7}}"#,
        r#"{"push":"notify","event":[1]}"#,
        r#"{"push":"notify"}"#,
        r#"{"push":"multiClientSync","event":{"eventType":"ROOM_CLOSE"},"id":"x"}"#,
        r#"{"push":"unreadSync","events":[{"eventType":"INVITE"},3,{"eventType":"CANCEL"}]}"#,
        r#"{"push":"unreadSync","events":{"eventType":"INVITE"}}"#,
        r#"{"push":"unreadSync"}"#,
        r#"{"push":"kicked","reason":"LOGIN_ELSEWHERE"}"#,
        r#"{"push":"ev\u0065nt"}"#,
        r#"{"push":"bogus"}"#,
        r#"{"push":7}"#,
        r#"{"id":1}"#,
        r#"{"id":-1,"code":200,"message":"OK"}"#,
        r#"{"id":1,"code":200,"message":7}"#,
        r#"{"id":1,"code":4294967296,"message":"OK"}"#,
        r#"{"id":1,"code":200,"message":"OK","error":5}"#,
        r#"{"id":1,"code":200,"message":"OK","data":{"x":1e400}}"#,
        r#"{"id":1,"code":200,"message":"OK"} x"#,
        r#"{"id":1,"code":200,"message":"OK","data":"#,
        "[1]",
        "nope",
        "\"text\"",
        &deep,
        &too_deep,
    ];
    for text in frames {
        assert_eq!(lazy(text), eager(text), "{text}");
    }
    assert!(decode(&deep).is_ok());
    assert!(decode(&too_deep).is_err());
}

#[test]
fn reads_odd_frames_in_one_pass_as_the_value_decoder_does() {
    let digits = format!("{}1", "9".repeat(400));
    let frames = [
        // Repeated keys: the last one counts, whatever the earlier ones were.
        r#"{"push":7,"push":"notify","event":{"eventType":"INVITE"}}"#,
        r#"{"push":"notify","push":"bogus"}"#,
        r#"{"id":"x","id":5,"code":200,"message":"OK"}"#,
        r#"{"id":5,"id":"x","code":200,"message":"OK"}"#,
        r#"{"id":5,"code":"x","code":201,"message":"A","message":"B","error":1,"error":null}"#,
        r#"{"id":5,"code":200,"message":"OK","data":{"a":1e400},"data":{"b":2}}"#,
        r#"{"push":"notify","event":{"eventType":"INVITE"},"event":3}"#,
        r#"{"push":"notify","event":3,"event":{"eventType":"CANCEL"}}"#,
        r#"{"push":"unreadSync","events":[{"eventType":"INVITE"}],"events":null}"#,
        // Numbers out of range: in `data`, in ignored members, in members read.
        r#"{"id":1,"code":200,"message":"OK","data":{"a":{"b":[1,-1e309]}}}"#,
        &format!(r#"{{"id":1,"code":200,"message":"OK","data":[{digits}]}}"#),
        &format!(r#"{{"id":1,"code":200,"message":"OK","data":[-{digits}]}}"#),
        r#"{"id":1,"code":200,"message":"OK","extra":[1e400]}"#,
        r#"{"id":1,"code":200,"message":"OK","extra":{"k":1E+999}}"#,
        r#"{"push":"kicked","reason":"X","id":[1e999]}"#,
        r#"{"push":"notify","event":{"eventType":"INVITE","at":-1e400}}"#,
        r#"{"push":"notify","event":{"eventType":[1e400]}}"#,
        r#"{"push":"unreadSync","events":[{"eventType":"INVITE"},{"n":1e400}]}"#,
        r#"{"push":"unreadSync","events":{"n":1e400}}"#,
        r#"{"id":1,"code":200,"message":"OK","error":[1e400]}"#,
        r#"{"id":1e400,"code":200,"message":"OK"}"#,
        // Numbers at the edges of what is read.
        r#"{"id":-0,"code":200,"message":"OK"}"#,
        r#"{"id":1.0,"code":200,"message":"OK"}"#,
        r#"{"id":18446744073709551615,"code":4294967295,"message":"OK"}"#,
        r#"{"id":18446744073709551616,"code":200,"message":"OK"}"#,
        r#"{"id":1,"code":200.0,"message":"OK"}"#,
        r#"{"id":1,"code":-200,"message":"OK"}"#,
        // `event`, `events` and `data` of every shape.
        r#"{"push":"notify","event":"INVITE"}"#,
        r#"{"push":"notify","event":null}"#,
        r#"{"push":"multiClientSync","event":7.5}"#,
        r#"{"push":"notify","event":{"eventType":null}}"#,
        r#"{"push":"notify","event":{"inner":{"eventType":"INVITE"}}}"#,
        r#"{"push":"unreadSync","events":null}"#,
        r#"{"push":"unreadSync","events":"x"}"#,
        r#"{"push":"unreadSync","events":[]}"#,
        r#"{"push":"unreadSync","events":[[{"eventType":"INVITE"}],{"eventType":"ACCEPT","eventType":"REJECT"}]}"#,
        r#"{"push":"channelsSync","channels":[{"channelId":"c"}],"event":{"eventType":"INVITE"}}"#,
        r#"{"id":1,"code":200,"message":"OK","event":{"eventType":"INVITE"},"push":null}"#,
        r#"{"id":1,"code":200,"message":"OK","data":[1,"x",null]}"#,
        r#"{"id":1,"code":200,"message":"OK","data":"text"}"#,
        r#"{"id":1,"code":200,"message":"OK","data":0}"#,
        r#"{"id":1,"code":200,"message":"OK","data":false}"#,
        " { \"id\" : 1 , \"code\" : 200 , \"message\" : \"OK\" , \"data\" : { \"a\" : [ 1 , 2 ] } } ",
        // Escapes in keys and strings.
        r#"{"\u0070ush":"notify","ev\u0065nt":{"event\u0054ype":"INVITE"}}"#,
        r#"{"push":"notif\u0079","event":{"eventType":"INV\u0049TE"}}"#,
        r#"{"id":1,"c\u006fde":200,"m\u0065ssage":"O\u004b","\u0065rror":"a\nb"}"#,
        r#"{"id":1,"code":200,"message":"OK","data":{"k\u00e9y":"v\"al"}}"#,
        r#"{"id":1,"code":200,"message":"\ud800"}"#,
        r#"{"id":1,"code":200,"message":"OK","data":{"a":"\ud83d\ude00"}}"#,
        r#"{"id":1,"code":200,"message":"OK","data":{"a":"\ud800"}}"#,
        r#"{"id":1,"code":200,"message":"OK","x\u":1}"#,
        // Broken inside the members read.
        r#"{"id":1,"code":200,"message":"OK","data":{"a":01}}"#,
        r#"{"id":1,"code":200,"message":"OK","data":[1,]}"#,
        r#"{"push":"notify","event":{"eventType":"INVITE",}}"#,
        r#"{"id":1,"code":200,"message":"OK","data":{"a":1}}}"#,
        r#"{"id":1,"code":200,"message":"OK",}"#,
        "{\"id\":1,\"code\":200,\"message\":\"O\u{1}K\"}",
    ];
    for text in frames {
        assert_eq!(lazy(text), eager(text), "{text}");
    }
}

#[test]
fn nesting_counts_against_the_same_limit_in_every_member() {
    // serde_json accepts 127 nested lists and objects, the frame's object included.
    let frame = |member: &str, n: usize| {
        let (open, close) = ("[".repeat(n), "]".repeat(n));
        let objects = |n: usize| ("{\"a\":".repeat(n), "}".repeat(n));
        match member {
            "data" => format!(r#"{{"id":1,"code":200,"message":"OK","data":{open}1{close}}}"#),
            "data objects" => {
                let (open, close) = objects(n);
                format!(r#"{{"id":1,"code":200,"message":"OK","data":{open}1{close}}}"#)
            }
            "extra" => {
                format!(r#"{{"id":1,"code":200,"message":"OK","extra":{open}1{close}}}"#)
            }
            "id" => format!(r#"{{"push":"kicked","id":{open}1{close}}}"#),
            "message" => format!(r#"{{"id":1,"code":200,"message":{open}1{close}}}"#),
            "event" => {
                let (open, close) = objects(n);
                format!(
                    r#"{{"push":"notify","event":{{"eventType":"INVITE","x":{open}1{close}}}}}"#
                )
            }
            "events" => {
                format!(r#"{{"push":"unreadSync","events":{open}{{"eventType":"INVITE"}}{close}}}"#)
            }
            _ => unreachable!(),
        }
    };
    let members = [
        "data",
        "data objects",
        "extra",
        "id",
        "message",
        "event",
        "events",
    ];
    for member in members {
        // The depth of the member's own value at which the frame holds 127 levels.
        let at_limit = match member {
            "event" => 125,
            "events" => 125,
            _ => 126,
        };
        for n in [at_limit - 1, at_limit, at_limit + 1, at_limit + 2] {
            let text = frame(member, n);
            assert_eq!(lazy(&text), eager(&text), "{member} {n}");
        }
        let too_deep =
            |n| matches!(eager(&frame(member, n)), Err(DecodeError(e)) if e.contains("recursion"));
        assert!(!too_deep(at_limit), "{member}");
        assert!(too_deep(at_limit + 1), "{member}");
    }
}

#[test]
fn good_frames_take_the_one_pass_path() {
    for text in [
        r#"{"id":2,"code":200,"message":"OK","data":{"channel":{"channelId":"c-1","type":2},"members":[{"uid":7}]}}"#,
        r#"{"id":null,"code":400,"message":"BAD_FRAME","error":"why"}"#,
        r#"{"push":"notify","event":{"eventType":"INVITE","from":"a","requestId":"r"}}"#,
        r#"{"push":"unreadSync","events":[{"eventType":"INVITE"},{"eventType":"CANCEL"}]}"#,
        r#"{"push":"channelsSync","channels":[]}"#,
        r#"{"push":"kicked","reason":"LOGIN_ELSEWHERE"}"#,
    ] {
        assert!(fast(text).is_some(), "{text}");
    }
}

#[test]
fn data_and_bodies_stay_text_until_read() {
    let Ok(Decoded::Reply(r)) =
        decode(r#"{"id":2,"code":200,"message":"OK","data":{"channel":{"channelId":"c"}}}"#)
    else {
        panic!("not a reply")
    };
    let data = r.data.expect("data");
    assert!(!data.is_parsed());
    assert_eq!(data["channel"]["channelId"], "c");
    let Ok(Decoded::Push { body, events, .. }) =
        decode(r#"{"push":"notify","event":{"eventType":"INVITE"}}"#)
    else {
        panic!("not a push")
    };
    assert_eq!(events, vec![Some(EventType::Invite)]);
    assert!(!body.is_parsed());
}
