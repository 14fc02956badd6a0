//! The [`MessageSender`] suite: a sent message gets an id and is then
//! known (pending or landed, never `NotFound`); the same attempt uid sent
//! again (a crash recovery) gives the same id and sends nothing new, even
//! when the message built for it changed meanwhile; a new uid with the
//! very same message sends a second message (a resend after a failure on
//! chain must go out); a message that was never sent never reads as
//! landed.
//!
//! Call order (for scripted fake nodes): `send(a, msg)`, `state` of its
//! id, `send(a, other)`, `send(b, msg)`, then `state` of an id nobody
//! sent.

use crate::chain::{
    MessageId, MessageSender, MessageState, MinerCall, MinerMessage, SectorsDeclaration, SendUid,
};
use crate::types::ids::{ActorId, SectorNumber};

/// Where message senders legitimately differ (nothing yet: every sender
/// keeps one message per attempt uid).
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct Capabilities {}

/// The first attempt uid the suite sends under.
pub const FIRST_UID: &str = "6f0e7c2a-53d1-4b8e-9a41-000000000001";

/// The second attempt uid the suite sends under (same message).
pub const SECOND_UID: &str = "6f0e7c2a-53d1-4b8e-9a41-000000000002";

/// A harmless message to `miner`: an empty fault declaration.
pub fn sample_message(miner: ActorId) -> MinerMessage {
    declaration(miner, 1)
}

fn declaration(miner: ActorId, sector: u64) -> MinerMessage {
    MinerMessage::new(
        miner,
        MinerCall::DeclareFaults(vec![SectorsDeclaration {
            deadline: 0,
            partition: 0,
            sectors: vec![SectorNumber(sector)],
        }]),
    )
}

/// Runs the suite on `sender`, sending `msg` (e.g. [`sample_message`])
/// under [`FIRST_UID`] and [`SECOND_UID`]; `never_sent` is an id of the
/// sender's form that it never issued. See the [module docs](self).
pub async fn message_sender(
    sender: &dyn MessageSender,
    msg: MinerMessage,
    never_sent: MessageId,
    _caps: Capabilities,
) {
    let name = format!("{sender:?}");
    let name = &name[..name.len().min(120)];
    let first = SendUid(FIRST_UID.into());
    let id = sender
        .send(&first, msg.clone())
        .await
        .unwrap_or_else(|e| panic!("{name}: send failed: {e}"));
    assert!(!id.0.is_empty(), "{name}: an empty message id");
    match sender.state(&id).await {
        Ok(MessageState::Pending | MessageState::Landed { .. }) => {}
        other => panic!("{name}: a message just sent: want Pending or Landed, got {other:?}"),
    }
    // A crash recovery rebuilds the message (a pre-commit's expiration
    // follows the head): the attempt is still the one already sent.
    let mut rebuilt = msg.clone();
    if let MinerCall::DeclareFaults(d) = &mut rebuilt.call {
        d.push(SectorsDeclaration {
            deadline: 0,
            partition: 1,
            sectors: vec![SectorNumber(2)],
        });
    } else {
        rebuilt = declaration(msg.miner, 2);
    }
    let again = sender
        .send(&first, rebuilt)
        .await
        .unwrap_or_else(|e| panic!("{name}: sending the same attempt again failed: {e}"));
    assert_eq!(
        again, id,
        "{name}: one attempt uid sent twice got two messages"
    );
    let second = sender
        .send(&SendUid(SECOND_UID.into()), msg)
        .await
        .unwrap_or_else(|e| panic!("{name}: a second attempt failed: {e}"));
    assert_ne!(
        second, id,
        "{name}: a new attempt uid with the same message got the first message back (a resend would never go out)"
    );
    assert_ne!(
        never_sent, id,
        "{name}: pick an id the sender did not issue"
    );
    if let Ok(MessageState::Landed { .. }) = sender.state(&never_sent).await {
        panic!("{name}: a message nobody sent has landed");
    }
}
