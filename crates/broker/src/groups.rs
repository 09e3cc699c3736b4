//! The group coordinator as an actor: one task owns the pure `Coordinator`, takes
//! requests over a channel (each with a oneshot for its answer), ticks it at its next
//! deadline, and hands deferred JoinGroup/SyncGroup answers to the requests parked
//! earlier. Group metadata changes go to the `OffsetStore` through one saver task, in
//! order. Time is tokio's clock (so tests can pause it) anchored to the wall clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tern_broker_groups::{
    Coordinator, ErrorCode, GroupDescription, GroupMetadata, GroupState, HeartbeatRequest,
    JoinRequest, JoinResponse, LeaveRequest, LeaveResponse, OffsetStore, Reply, ReplyId, Response,
    SyncRequest, SyncResponse,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

enum Command {
    Join(ReplyId, JoinRequest, oneshot::Sender<JoinResponse>),
    Sync(ReplyId, SyncRequest, oneshot::Sender<SyncResponse>),
    Heartbeat(HeartbeatRequest, oneshot::Sender<ErrorCode>),
    Leave(LeaveRequest, oneshot::Sender<LeaveResponse>),
    Describe(Vec<String>, oneshot::Sender<Vec<GroupDescription>>),
    List(oneshot::Sender<Vec<(String, String, GroupState)>>),
    CanCommit {
        group: String,
        member: String,
        instance: Option<String>,
        generation: i32,
        answer: oneshot::Sender<Result<(), ErrorCode>>,
    },
    EnsureGroup(String),
    Cancel(Vec<ReplyId>),
}

/// The way in to the coordinator actor and the offset store; shared by all connections.
pub(crate) struct Groups {
    commands: mpsc::UnboundedSender<Command>,
    /// The actor's receiving end and coordinator until `start` spawns it.
    parked: Mutex<Option<(mpsc::UnboundedReceiver<Command>, Coordinator)>>,
    pub offsets: OffsetStore,
    next_reply: AtomicU64,
}

/// The coordinator is gone (the broker is shutting down).
pub(crate) struct Unavailable;

impl Groups {
    /// A coordinator restored from the offset store's group metadata; not running yet.
    pub fn new(offsets: OffsetStore) -> Groups {
        let mut coordinator = Coordinator::new();
        for group in offsets.groups() {
            coordinator.restore(group);
        }
        let (commands, receiver) = mpsc::unbounded_channel();
        Groups {
            commands,
            parked: Mutex::new(Some((receiver, coordinator))),
            offsets,
            next_reply: AtomicU64::new(1),
        }
    }

    /// Spawns the actor (once); it runs until the returned handle is aborted.
    pub fn start(&self) -> Option<tokio::task::JoinHandle<()>> {
        let (receiver, coordinator) = self
            .parked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        let (saves, saves_rx) = mpsc::unbounded_channel();
        let saver = tokio::spawn(save_groups(self.offsets.clone(), saves_rx));
        Some(tokio::spawn(async move {
            run(coordinator, receiver, saves).await;
            saver.abort();
        }))
    }

    pub fn reply_id(&self) -> ReplyId {
        self.next_reply.fetch_add(1, Ordering::Relaxed)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Unavailable> {
        let (answer, receiver) = oneshot::channel();
        self.commands.send(make(answer)).map_err(|_| Unavailable)?;
        receiver.await.map_err(|_| Unavailable)
    }

    /// Sends a JoinGroup now (in request order); the answer may come much later.
    pub fn join(&self, reply: ReplyId, req: JoinRequest) -> oneshot::Receiver<JoinResponse> {
        let (answer, receiver) = oneshot::channel();
        let _ = self.commands.send(Command::Join(reply, req, answer));
        receiver
    }

    /// Sends a SyncGroup now; a follower's answer waits for the leader's.
    pub fn sync(&self, reply: ReplyId, req: SyncRequest) -> oneshot::Receiver<SyncResponse> {
        let (answer, receiver) = oneshot::channel();
        let _ = self.commands.send(Command::Sync(reply, req, answer));
        receiver
    }

    pub async fn heartbeat(&self, req: HeartbeatRequest) -> Result<ErrorCode, Unavailable> {
        self.ask(|a| Command::Heartbeat(req, a)).await
    }

    pub async fn leave(&self, req: LeaveRequest) -> Result<LeaveResponse, Unavailable> {
        self.ask(|a| Command::Leave(req, a)).await
    }

    pub async fn describe(
        &self,
        groups: Vec<String>,
    ) -> Result<Vec<GroupDescription>, Unavailable> {
        self.ask(|a| Command::Describe(groups, a)).await
    }

    pub async fn list(&self) -> Result<Vec<(String, String, GroupState)>, Unavailable> {
        self.ask(Command::List).await
    }

    pub async fn can_commit(
        &self,
        group: String,
        member: String,
        instance: Option<String>,
        generation: i32,
    ) -> Result<Result<(), ErrorCode>, Unavailable> {
        self.ask(|answer| Command::CanCommit {
            group,
            member,
            instance,
            generation,
            answer,
        })
        .await
    }

    pub fn ensure_group(&self, group: String) {
        let _ = self.commands.send(Command::EnsureGroup(group));
    }

    /// Forgets parked requests of a closed connection.
    pub fn cancel(&self, replies: Vec<ReplyId>) {
        if !replies.is_empty() {
            let _ = self.commands.send(Command::Cancel(replies));
        }
    }
}

/// Milliseconds on tokio's clock, anchored to the wall clock at start.
struct Clock {
    start: Instant,
    start_ms: i64,
}

impl Clock {
    fn now_ms(&self) -> i64 {
        self.start_ms + self.start.elapsed().as_millis() as i64
    }

    fn instant(&self, ms: i64) -> Instant {
        let after = u64::try_from(ms - self.start_ms).unwrap_or(0);
        self.start + std::time::Duration::from_millis(after)
    }
}

enum Parked {
    Join(oneshot::Sender<JoinResponse>),
    Sync(oneshot::Sender<SyncResponse>),
}

async fn run(
    mut coordinator: Coordinator,
    mut commands: mpsc::UnboundedReceiver<Command>,
    saves: mpsc::UnboundedSender<Vec<GroupMetadata>>,
) {
    let clock = Clock {
        start: Instant::now(),
        start_ms: crate::state::now_ms(),
    };
    let mut parked: HashMap<ReplyId, Parked> = HashMap::new();
    loop {
        let deadline = coordinator.next_deadline().map(|ms| clock.instant(ms));
        let command = tokio::select! {
            command = commands.recv() => match command {
                Some(command) => Some(command),
                None => return,
            },
            _ = sleep_until(deadline) => None,
        };
        let now = clock.now_ms();
        let replies = match command {
            None => coordinator.tick(now),
            Some(Command::Join(reply, req, answer)) => {
                parked.insert(reply, Parked::Join(answer));
                coordinator.join(now, reply, req)
            }
            Some(Command::Sync(reply, req, answer)) => {
                parked.insert(reply, Parked::Sync(answer));
                coordinator.sync(now, reply, req)
            }
            Some(Command::Heartbeat(req, answer)) => {
                let _ = answer.send(coordinator.heartbeat(now, req));
                Vec::new()
            }
            Some(Command::Leave(req, answer)) => {
                let (response, replies) = coordinator.leave(now, req);
                let _ = answer.send(response);
                replies
            }
            Some(Command::Describe(groups, answer)) => {
                let _ = answer.send(groups.iter().map(|g| coordinator.describe(g)).collect());
                Vec::new()
            }
            Some(Command::List(answer)) => {
                let _ = answer.send(coordinator.list());
                Vec::new()
            }
            Some(Command::CanCommit {
                group,
                member,
                instance,
                generation,
                answer,
            }) => {
                let _ = answer.send(coordinator.can_commit(
                    &group,
                    &member,
                    instance.as_deref(),
                    generation,
                ));
                Vec::new()
            }
            Some(Command::EnsureGroup(group)) => {
                coordinator.ensure_group(&group);
                Vec::new()
            }
            Some(Command::Cancel(replies)) => {
                for reply in replies {
                    if parked.remove(&reply).is_some() {
                        coordinator.cancel(reply);
                    }
                }
                Vec::new()
            }
        };
        for Reply { reply, response } in replies {
            match (parked.remove(&reply), response) {
                (Some(Parked::Join(answer)), Response::Join(response)) => {
                    let _ = answer.send(response);
                }
                (Some(Parked::Sync(answer)), Response::Sync(response)) => {
                    let _ = answer.send(response);
                }
                (None, _) => {}
                (Some(_), _) => tracing::error!(
                    reply,
                    "group coordinator answered a request with the wrong kind of reply"
                ),
            }
        }
        let changes = coordinator.take_changes();
        if !changes.is_empty() {
            let _ = saves.send(changes);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Writes group metadata changes in the order the coordinator made them.
async fn save_groups(offsets: OffsetStore, mut saves: mpsc::UnboundedReceiver<Vec<GroupMetadata>>) {
    while let Some(groups) = saves.recv().await {
        if let Err(error) = offsets.save_groups(groups).await {
            tracing::error!(%error, "cannot save group metadata");
        }
    }
}
