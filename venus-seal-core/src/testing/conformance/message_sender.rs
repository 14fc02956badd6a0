//! The [`MessageSender`] suite: a sent message gets an id and is then
//! known (pending or landed, never `NotFound`); sending the very same
//! message again after a crash gives the same id, where the sender
//! deduplicates; a message that was never sent never reads as landed.
//!
//! Call order (for scripted fake nodes): `send`, `state` of its id,
//! with deduplication a second `send` of the same message, then `state`
//! of an id nobody sent.

use crate::chain::{
    MessageId, MessageSender, MessageState, MinerCall, MinerMessage, SectorsDeclaration,
};
use crate::types::ids::{ActorId, SectorNumber};

/// Where message senders legitimately differ.
#[derive(Clone, Copy, Debug, Default)]
pub struct Capabilities {
    /// Sending the same message twice gives the same id (venus-messager
    /// and a full node pushing with a message uuid do; a bare mpool push
    /// does not).
    pub deduplicates: bool,
}

/// A harmless message to `miner`: an empty fault declaration.
pub fn sample_message(miner: ActorId) -> MinerMessage {
    MinerMessage::new(
        miner,
        MinerCall::DeclareFaults(vec![SectorsDeclaration {
            deadline: 0,
            partition: 0,
            sectors: vec![SectorNumber(1)],
        }]),
    )
}

/// Runs the suite on `sender`, sending `msg` (e.g. [`sample_message`]);
/// `never_sent` is an id of the sender's form that it never issued. See
/// the [module docs](self).
pub async fn message_sender(
    sender: &dyn MessageSender,
    msg: MinerMessage,
    never_sent: MessageId,
    caps: Capabilities,
) {
    let name = format!("{sender:?}");
    let name = &name[..name.len().min(120)];
    let id = sender
        .send(msg.clone())
        .await
        .unwrap_or_else(|e| panic!("{name}: send failed: {e}"));
    assert!(!id.0.is_empty(), "{name}: an empty message id");
    match sender.state(&id).await {
        Ok(MessageState::Pending | MessageState::Landed { .. }) => {}
        other => panic!("{name}: a message just sent: want Pending or Landed, got {other:?}"),
    }
    if caps.deduplicates {
        let again = sender
            .send(msg)
            .await
            .unwrap_or_else(|e| panic!("{name}: sending again failed: {e}"));
        assert_eq!(again, id, "{name}: the same message sent twice got two ids");
    }
    assert_ne!(
        never_sent, id,
        "{name}: pick an id the sender did not issue"
    );
    if let Ok(MessageState::Landed { .. }) = sender.state(&never_sent).await {
        panic!("{name}: a message nobody sent has landed");
    }
}
