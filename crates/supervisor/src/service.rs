//! One supervised service: the shell around its pure core ([`crate::state`]). A task per
//! service owns the core's side effects: it feeds the core what happens (requests,
//! process starts and exits, deregistrations, the registry's health view, deadlines) and
//! carries out the actions it answers with, in order. Operations on one service run one
//! at a time (the core queues them); `tern ps` reads the core's state and never waits for
//! an operation.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use tern_consul_client::Block;
use tern_platform::{Program, Register, ServiceSpec};
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};
use tracing::{info, warn};

use crate::{
    launch::env_from_kv,
    lock,
    process::Launch,
    replica::ReplicaShell,
    self_registered::FoundId,
    state::{Action, Event, Failure, OpId, ReplicaStatus, Request, ServiceState, Slot, Target},
    Context, Error,
};
use tern_consul_client::ServiceRegistration;

/// How long the health watch's blocking query waits: also how often the core sees
/// replicas that stay critical.
const HEALTH_WAIT: Duration = Duration::from_secs(1);
/// How long the config watch's blocking query waits.
const CONFIG_WAIT: Duration = Duration::from_secs(30);

/// What the service's task is told.
pub(crate) enum Input {
    Event(Event),
    Request {
        request: Request,
        reply: oneshot::Sender<Result<(), Failure>>,
    },
    /// A new replica's process is known (its config keys read): start it.
    Prepared {
        slot: Slot,
        launch: Box<(Launch, Option<ServiceRegistration>)>,
    },
}

/// The handle of one service; its task lives while the handle or a process does.
pub(crate) struct ServiceRuntime {
    pub(crate) name: String,
    context: Arc<Context>,
    state: Arc<Mutex<ServiceState>>,
    inputs: mpsc::UnboundedSender<Input>,
    /// Replica ID → the registration its program made itself (`register = "self"`).
    found: Found,
}

type Found = Arc<Mutex<HashMap<String, FoundId>>>;

impl ServiceRuntime {
    pub(crate) fn new(context: Arc<Context>, target: Target) -> Result<Arc<Self>, Error> {
        let log = context
            .logs
            .writer(&target.spec.register_as)
            .map_err(|e| Error::Logs(e.to_string()))?;
        let name = target.spec.name.clone();
        let state = Arc::new(Mutex::new(ServiceState::new(target)));
        let (inputs, receiver) = mpsc::unbounded_channel();
        let found = Found::default();
        let shell = Shell {
            found: found.clone(),
            name: name.clone(),
            context: context.clone(),
            log,
            state: state.clone(),
            inputs: inputs.downgrade(),
            replicas: HashMap::new(),
            replies: HashMap::new(),
            next_op: 1,
        };
        tokio::spawn(shell.run(receiver));
        let service = Arc::new(ServiceRuntime {
            name,
            context,
            state,
            inputs,
            found,
        });
        tokio::spawn(watch_health(Arc::downgrade(&service)));
        tokio::spawn(watch_config(Arc::downgrade(&service)));
        Ok(service)
    }

    pub(crate) fn target(&self) -> Target {
        lock(&self.state).target().clone()
    }

    /// Takes a definition that differs from the current one only in what does not make a
    /// new revision (replica count, timeouts, restart policy): running replicas stay.
    pub(crate) fn update_spec(&self, spec: ServiceSpec) {
        lock(&self.state).update_spec(spec);
    }

    pub(crate) fn note(&self) -> Option<String> {
        lock(&self.state).note().map(str::to_owned)
    }

    pub(crate) fn statuses(&self) -> Vec<ReplicaStatus> {
        let mut statuses = lock(&self.state).statuses();
        let found = lock(&self.found);
        for status in &mut statuses {
            status.registered_id = found.get(&status.id).and_then(|id| lock(id).clone());
        }
        statuses
    }

    /// Starts or stops replicas until `replicas` run the current revision, each new one
    /// healthy before it counts; removed ones are deregistered and drained first.
    pub(crate) async fn scale(&self, replicas: u32) -> Result<(), Error> {
        self.request(Request::Scale(replicas)).await
    }

    /// Rolls the service to `target`, one replica at a time; back to `previous` when a
    /// new replica is not healthy within the readiness timeout (the new revision is then
    /// marked failed).
    pub(crate) async fn roll_out(&self, target: Target, previous: Target) -> Result<(), Error> {
        self.request(Request::Rollout {
            target: Box::new(target),
            previous: Box::new(previous),
        })
        .await
    }

    /// Rolling restart of every replica on the current revision.
    pub(crate) async fn restart_rolling(&self) -> Result<(), Error> {
        self.request(Request::Restart).await
    }

    /// Stops every replica (deregister, drain, stop), all at once.
    pub(crate) async fn stop_all(&self) {
        if let Err(error) = self.request(Request::Stop).await {
            warn!(service = %self.name, %error, "stopping failed");
        }
    }

    async fn request(&self, request: Request) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        let gone = || Error::NotReady(format!("{} is no longer supervised", self.name));
        self.inputs
            .send(Input::Request { request, reply })
            .map_err(|_| gone())?;
        match answer.await.map_err(|_| gone())? {
            Ok(()) => Ok(()),
            Err(Failure::NotReady(why)) => Err(Error::NotReady(why)),
            Err(Failure::RolledBack(note)) => Err(Error::RolledBack(note)),
        }
    }
}

/// The service's task: applies inputs to the core, carries out its actions.
struct Shell {
    name: String,
    context: Arc<Context>,
    log: tern_logs::ServiceLog,
    state: Arc<Mutex<ServiceState>>,
    /// Handed (upgraded) to the tasks that report back; weak so the task ends once the
    /// handle and every process are gone.
    inputs: mpsc::WeakUnboundedSender<Input>,
    replicas: HashMap<Slot, ReplicaShell>,
    replies: HashMap<OpId, oneshot::Sender<Result<(), Failure>>>,
    next_op: OpId,
    found: Found,
}

impl Shell {
    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Input>) {
        loop {
            let deadline = lock(&self.state).next_deadline();
            let timer = async move {
                match deadline {
                    Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            let input = tokio::select! {
                input = receiver.recv() => match input {
                    Some(input) => input,
                    None => return,
                },
                () = timer => Input::Event(Event::Tick),
            };
            self.handle(input);
        }
    }

    fn handle(&mut self, input: Input) {
        let first = match input {
            Input::Event(Event::Health(endpoints)) => Event::Health(self.as_replicas(endpoints)),
            Input::Event(event) => {
                if let Event::Exited { slot, .. } = &event {
                    if let Some(replica) = self.replicas.get(slot) {
                        replica.exited();
                    }
                }
                event
            }
            Input::Request { request, reply } => {
                let op = self.next_op;
                self.next_op += 1;
                self.replies.insert(op, reply);
                Event::Requested { op, request }
            }
            Input::Prepared { slot, launch } => {
                let Some(replica) = self.replicas.get_mut(&slot) else {
                    return;
                };
                replica.prepared(*launch);
                match self.inputs.upgrade() {
                    Some(inputs) => replica.spawn(&inputs),
                    None => return,
                }
            }
        };
        // What the shell learns while carrying out actions (a process started or not)
        // goes back in before anything else.
        let mut events = std::collections::VecDeque::from([first]);
        while let Some(event) = events.pop_front() {
            let now = Instant::now().into_std();
            let actions = lock(&self.state).apply(event, now);
            for action in actions {
                events.extend(self.carry_out(action));
            }
        }
    }

    /// The registry's instances with each self-registered replica's registration under
    /// the replica's ID, as the core knows it.
    fn as_replicas(
        &self,
        mut endpoints: Vec<tern_consul_client::Endpoint>,
    ) -> Vec<tern_consul_client::Endpoint> {
        let found = lock(&self.found);
        let by_registration: HashMap<String, &String> = found
            .iter()
            .filter_map(|(replica, id)| Some((lock(id).clone()?, replica)))
            .collect();
        for endpoint in &mut endpoints {
            if let Some(replica) = by_registration.get(&endpoint.id) {
                endpoint.id = (*replica).clone();
            }
        }
        endpoints
    }

    fn carry_out(&mut self, action: Action) -> Option<Event> {
        match action {
            Action::Create {
                slot,
                id,
                revision,
                spec,
            } => {
                let inputs = self.inputs.upgrade()?;
                let self_registered = matches!(spec.program, Program::Command(_))
                    && spec.register == Register::Itself;
                let replica = ReplicaShell::new(
                    slot,
                    id.clone(),
                    revision,
                    self.context.consul.clone(),
                    self.log.clone(),
                    self.inputs.clone(),
                    self_registered.then(|| spec.register_as.clone()),
                );
                if let Some(found) = replica.found() {
                    lock(&self.found).insert(id.clone(), found.clone());
                }
                self.replicas.insert(slot, replica);
                let context = self.context.clone();
                tokio::spawn(async move {
                    let config = context.config_env(&spec).await;
                    let launch = Box::new(context.launch(&spec, &id, config));
                    let _ = inputs.send(Input::Prepared { slot, launch });
                });
                None
            }
            Action::Start { slot } => {
                let inputs = self.inputs.upgrade()?;
                Some(self.replicas.get_mut(&slot)?.spawn(&inputs))
            }
            Action::Deregister { slot } => {
                self.replicas.get(&slot)?.deregister();
                None
            }
            Action::Terminate { slot, kill_after } => {
                self.replicas.get_mut(&slot)?.terminate(kill_after);
                None
            }
            Action::Forget { slot } => {
                if let Some(replica) = self.replicas.remove(&slot) {
                    lock(&self.found).remove(&replica.id);
                }
                None
            }
            Action::MarkRevisionFailed { revision, why } => {
                let marked = lock(&self.context.revisions).mark_failed(&self.name, revision, &why);
                if let Err(error) = marked {
                    warn!(service = %self.name, revision, %error, "cannot mark the revision failed");
                }
                None
            }
            Action::Report { op, result } => {
                if let Some(reply) = self.replies.remove(&op) {
                    let _ = reply.send(result);
                }
                None
            }
        }
    }
}

/// Follows the registry's view of the service's instances and hands it to the core,
/// which updates each replica and restarts those critical too long.
async fn watch_health(service: Weak<ServiceRuntime>) {
    let mut index = 0;
    loop {
        let Some(runtime) = service.upgrade() else {
            return;
        };
        let consul = runtime.context.consul.clone();
        let name = runtime.target().spec.register_as;
        drop(runtime);
        let block = Some(Block {
            index: index.max(1),
            wait: HEALTH_WAIT,
        });
        let instances = match consul.instances(&name, block).await {
            Ok(answer) => {
                index = if answer.index < index {
                    0
                } else {
                    answer.index
                };
                answer.value
            }
            Err(error) => {
                warn!(service = %name, %error, "health watch failed");
                tokio::time::sleep(HEALTH_WAIT).await;
                continue;
            }
        };
        let Some(runtime) = service.upgrade() else {
            return;
        };
        let _ = runtime.inputs.send(Input::Event(Event::Health(instances)));
    }
}

/// For programs that read their config only at start (`restart_on_change = true`):
/// a rolling restart whenever the keys under the config prefix change, so new values
/// reach every replica without dropping traffic (envconsul restarts all at once).
async fn watch_config(service: std::sync::Weak<ServiceRuntime>) {
    let mut index = 0;
    let mut seen: Option<BTreeMap<String, String>> = None;
    loop {
        let Some(runtime) = service.upgrade() else {
            return;
        };
        let spec = runtime.target().spec;
        let consul = runtime.context.consul.clone();
        drop(runtime);
        if !spec.restart_on_change {
            // The flag is part of the definition; `tern apply` may turn it on later.
            tokio::time::sleep(CONFIG_WAIT).await;
            continue;
        }
        // The first read is the baseline: only later changes restart.
        let block = seen.as_ref().map(|_| Block {
            index: index.max(1),
            wait: CONFIG_WAIT,
        });
        let entries = match consul.kv_list(&spec.config_prefix, block).await {
            Ok(answer) => {
                index = if answer.index < index {
                    0
                } else {
                    answer.index
                };
                env_from_kv(&spec.config_prefix, &answer.value)
            }
            Err(error) => {
                warn!(service = %spec.name, %error, "config watch failed");
                tokio::time::sleep(HEALTH_WAIT).await;
                continue;
            }
        };
        match &seen {
            None => seen = Some(entries),
            Some(previous) if *previous != entries => {
                seen = Some(entries);
                let Some(runtime) = service.upgrade() else {
                    return;
                };
                info!(service = %spec.name, "config keys changed; rolling restart");
                if let Err(error) = runtime.restart_rolling().await {
                    warn!(service = %spec.name, %error, "rolling restart after a config change failed");
                }
            }
            Some(_) => {}
        }
    }
}
