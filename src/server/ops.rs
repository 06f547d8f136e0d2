//! Dispatch of a validated request of a logged-in connection to its op, and the reply
//! type every op returns.

use serde::Serialize;

use super::state::Shared;
use super::state::channels::ChannelJson;
use crate::protocol::frame::{response, response_raw};
use crate::protocol::params::Request;
use crate::protocol::{ChannelInfo, Code};

/// Who sent the request.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub account: String,
    pub device: String,
    pub conn_id: u64,
}

/// The `data` of a response.
#[derive(Serialize, Debug)]
#[serde(untagged)]
pub(crate) enum Data {
    Channel {
        channel: ChannelInfo,
    },
    /// `{channel, members}`, rendered by [`super::state::channels::Channel::rendered`].
    Full(ChannelJson),
    #[serde(rename_all = "camelCase")]
    Login {
        account: String,
        device: String,
        server_time: u64,
    },
}

/// An op's answer: a code and, where the op returns something, `data`.
#[derive(Debug)]
pub(crate) struct Reply {
    pub code: Code,
    pub data: Option<Data>,
}

impl Reply {
    /// The response frame for request `id`. A rendered channel goes into it as it is.
    pub(crate) fn into_text(self, id: u64) -> String {
        match &self.data {
            Some(Data::Full(json)) => response_raw(id, self.code, json.raw()),
            _ => response(id, self.code, self.data),
        }
    }

    pub(crate) fn code(code: Code) -> Reply {
        Reply { code, data: None }
    }

    pub(crate) fn data(data: Data) -> Reply {
        Reply {
            code: Code::Ok,
            data: Some(data),
        }
    }
}

impl Shared {
    /// Runs one op for a logged-in caller. `login` never reaches here.
    pub(crate) fn execute(&self, caller: &Caller, request: Request) -> Reply {
        match request {
            Request::Login(_) => Reply::code(Code::ParamError),
            Request::Create(req) => self.create(caller, req),
            Request::Join(req) => self.join(caller, req),
            Request::Leave(req) => self.leave(caller, req),
            Request::Close(req) => self.close(caller, req),
            Request::Query(req) => self.query(caller, req),
            Request::Delay { channel_id } => self.delay(caller, &channel_id),
            Request::Invite(req) => self.invite(caller, req),
            Request::Cancel(req) => self.cancel(caller, req),
            Request::Reject(req) => self.reject(caller, req),
            Request::Accept(req) => self.accept(caller, req),
            Request::Call(req) => self.call(caller, req),
            Request::Control(req) => self.control(caller, req),
            Request::MarkRead { msgids } => self.mark_read(caller, &msgids),
        }
    }
}
