//! Reading an experiment file into a checked [`Experiment`]: every name resolved (protocols, zoo
//! models, data sets, network profiles, sweep keys), every file checked, data sets loaded and
//! preprocessed, and every combination of the sweep expanded once, all before any run starts.
//! Each failure is a bad-input error at the line and column of the offending value.

use super::expand::expand;
use super::netmodel::NetworkProfile;
use super::plan::{EvalData, Experiment, ModelRef, Task, TaskKind};
use super::schema::{self, ExperimentFile, PreprocessFile, S, TaskFile, TrainFile, error_at};
use super::sweep::{self, Dim, Param};
use super::train;
use crate::bench::op::{OpKind, OpSpec};
use crate::error::{Error, Result};
use crate::launch::TransportKind;
use crate::nn::infer::WeightPrivacy;
use crate::nn::tensor::F32Tensor;
use crate::protocol::ProtocolConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl Experiment {
    /// Reads and checks an experiment file.
    pub fn load(path: &Path) -> Result<Self> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: file.clone(),
            source: e,
        })?;
        Self::from_text(text, file)
    }

    /// Checks an experiment given as text (`file` names it in errors).
    pub fn from_text(text: String, file: String) -> Result<Self> {
        let raw = schema::parse(&text, &file)?;
        let ctx = Ctx {
            text: &text,
            file: &file,
        };
        let exp = build(&ctx, raw)?;
        // Every combination is checked too, before anything runs.
        expand(&exp)?;
        Ok(exp)
    }
}

struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Ctx<'_> {
    fn err<T>(&self, v: &S<T>, detail: impl Into<String>) -> Error {
        error_at(self.text, self.file, v, detail)
    }

    /// Re-anchors a library error (whose message names the problem) at a spanned value; the
    /// command-line flag a library message names is dropped (the position names the field).
    fn wrap<T>(&self, v: &S<T>, e: Error) -> Error {
        let detail = match e {
            Error::Invalid { what, detail } if what.starts_with("--") || what == "value" => detail,
            other => other.to_string(),
        };
        self.err(v, detail)
    }
}

fn build(ctx: &Ctx, raw: ExperimentFile) -> Result<Experiment> {
    let name = raw.name.value.clone();
    if !safe_name(&name) {
        return Err(ctx.err(
            &raw.name,
            "use letters, digits, `-`, `_` and `.` only (it names a folder)",
        ));
    }
    if raw.tasks.is_empty() {
        return Err(Error::config(ctx.file, "field `tasks`: needs at least one task"));
    }
    if raw.protocols.is_empty() {
        return Err(Error::config(
            ctx.file,
            "field `protocols`: needs at least one protocol",
        ));
    }
    let mut protocols = Vec::new();
    for p in &raw.protocols {
        let cfg = ProtocolConfig::load(&p.value).map_err(|e| ctx.wrap(p, e))?;
        if protocols.iter().any(|c: &ProtocolConfig| c.name == cfg.name) {
            return Err(ctx.err(p, format!("protocol `{}` is listed twice", cfg.name)));
        }
        protocols.push(cfg);
    }
    let seed = raw.seed.unwrap_or(1);
    let mut tasks: Vec<Task> = Vec::new();
    for t in &raw.tasks {
        if tasks.iter().any(|o| o.name == t.name.value) {
            return Err(ctx.err(&t.name, format!("task `{}` is defined twice", t.name.value)));
        }
        tasks.push(task(ctx, t, seed)?);
    }
    let networks = networks(ctx, &raw)?;
    let mut dims = Vec::new();
    if let Some(p) = &raw.parties {
        dims.push(fixed(Param::Parties, p, serde_json::json!(p.value)));
    }
    if let Some(t) = &raw.transport {
        TransportKind::parse(&t.value).map_err(|e| ctx.wrap(t, e))?;
        dims.push(fixed(Param::Transport, t, serde_json::json!(t.value)));
    }
    for (key, values) in &raw.sweep.0 {
        let Some(param) = Param::parse(&key.value) else {
            return Err(ctx.err(
                key,
                format!(
                    "unknown sweep parameter `{}` (known: protocol lists go in `protocols`, networks in `networks`; sweepable: {})",
                    key.value,
                    sweep::known_keys()
                ),
            ));
        };
        if values.is_empty() {
            return Err(ctx.err(key, "needs at least one value"));
        }
        for v in values {
            check_value(ctx, &param, v)?;
        }
        dims.push(Dim {
            param,
            values: values.clone(),
            swept: true,
        });
    }
    let repetitions = match &raw.repetitions {
        Some(r) if r.value == 0 => return Err(ctx.err(r, "needs at least one repetition")),
        Some(r) => r.value,
        None => 1,
    };
    let line = match &raw.outputs.line {
        Some(l) => {
            if !raw.sweep.0.iter().any(|(k, _)| k.value == l.value) {
                return Err(ctx.err(l, format!("`{}` is not a swept parameter", l.value)));
            }
            Some(l.value.clone())
        }
        None => raw.sweep.0.first().map(|(k, _)| k.value.clone()),
    };
    let out_dir = raw
        .outputs
        .dir
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new("results").join(&name));
    Ok(Experiment {
        name,
        description: raw.description,
        file: ctx.file.to_string(),
        text: ctx.text.to_string(),
        tasks,
        protocols,
        networks,
        dims,
        repetitions,
        warmup: raw.warmup.unwrap_or(1),
        seed,
        insecure_share_seed: raw.insecure_share_seed,
        tls: raw.tls.unwrap_or(true),
        out_dir,
        plots: raw.outputs.plots.unwrap_or(true),
        line,
        compare: raw.compare,
    })
}

fn fixed<T>(param: Param, at: &S<T>, value: serde_json::Value) -> Dim {
    Dim {
        param,
        values: vec![S::new(value, at.referenced, at.defined)],
        swept: false,
    }
}

/// Type checks of one sweep value that do not depend on the protocol.
fn check_value(ctx: &Ctx, param: &Param, v: &S<serde_json::Value>) -> Result<()> {
    match param {
        Param::Parties | Param::PrecisionBits | Param::BatchSize => {
            sweep::as_count(v, ctx.text, ctx.file)?;
        }
        Param::Transport => {
            TransportKind::parse(sweep::as_str(v, ctx.text, ctx.file)?).map_err(|e| ctx.wrap(v, e))?;
        }
        Param::WeightsPrivacy => {
            sweep::privacy(v, ctx.text, ctx.file)?;
        }
        Param::Function(key) => {
            sweep::check_function(key, &v.value).map_err(|e| ctx.wrap(v, e))?;
        }
    }
    Ok(())
}

fn networks(ctx: &Ctx, raw: &ExperimentFile) -> Result<Vec<NetworkProfile>> {
    let mut known = NetworkProfile::builtin();
    for (name, p) in &raw.network_profiles.0 {
        if !(p.bandwidth_mbit.value > 0.0 && p.bandwidth_mbit.value.is_finite()) {
            return Err(ctx.err(&p.bandwidth_mbit, "needs a positive bandwidth in Mbit/s"));
        }
        if !(p.latency_ms.value >= 0.0 && p.latency_ms.value.is_finite()) {
            return Err(ctx.err(&p.latency_ms, "needs a latency of 0 ms or more"));
        }
        if !safe_name(&name.value) {
            return Err(ctx.err(name, "use letters, digits, `-`, `_` and `.` only"));
        }
        known.retain(|k| k.name != name.value);
        known.push(NetworkProfile::new(
            &name.value,
            p.bandwidth_mbit.value,
            p.latency_ms.value,
        ));
    }
    let Some(list) = &raw.networks else {
        return Ok(NetworkProfile::builtin()
            .into_iter()
            .map(|b| known.iter().find(|k| k.name == b.name).cloned().unwrap_or(b))
            .collect());
    };
    let mut out: Vec<NetworkProfile> = Vec::new();
    for n in list {
        let Some(p) = known.iter().find(|k| k.name == n.value) else {
            let names: Vec<&str> = known.iter().map(|k| k.name.as_str()).collect();
            return Err(ctx.err(
                n,
                format!("unknown network profile `{}` (known: {})", n.value, names.join(", ")),
            ));
        };
        if out.iter().any(|o| o.name == p.name) {
            return Err(ctx.err(n, format!("network `{}` is listed twice", n.value)));
        }
        out.push(p.clone());
    }
    if out.is_empty() {
        return Err(Error::config(ctx.file, "field `networks`: needs at least one profile"));
    }
    Ok(out)
}

/// Fields each kind of task takes (besides name and kind).
const FIELDS: [(&str, &[&str]); 3] = [
    ("op", &["op", "shapes"]),
    (
        "latency",
        &["model", "input_shape", "weights", "weights_privacy", "batch_size"],
    ),
    (
        "accuracy",
        &[
            "model",
            "weights",
            "weights_privacy",
            "data",
            "split",
            "samples",
            "batch_size",
            "preprocess",
            "train",
        ],
    ),
];

fn task(ctx: &Ctx, t: &TaskFile, seed: u64) -> Result<Task> {
    let name = t.name.value.clone();
    let repetitions = match &t.repetitions {
        Some(r) if r.value == 0 => return Err(ctx.err(r, "needs at least one repetition")),
        Some(r) => Some(r.value),
        None => None,
    };
    if !safe_name(&name) {
        return Err(ctx.err(
            &t.name,
            "use letters, digits, `-`, `_` and `.` only (it names plot files)",
        ));
    }
    let kind = t.kind.value.as_str();
    let Some((_, allowed)) = FIELDS.iter().find(|(k, _)| *k == kind) else {
        return Err(ctx.err(
            &t.kind,
            format!("unknown task kind `{kind}` (known: latency, accuracy, op)"),
        ));
    };
    // A field another kind uses is an error here, not silently ignored.
    let present: [(&str, Option<(u64, u64)>); 12] = [
        ("model", pos(&t.model)),
        ("input_shape", pos(&t.input_shape)),
        ("weights", pos(&t.weights)),
        ("weights_privacy", pos(&t.weights_privacy)),
        ("data", pos(&t.data)),
        ("split", pos(&t.split)),
        ("samples", pos(&t.samples)),
        ("batch_size", pos(&t.batch_size)),
        ("preprocess", None),
        ("train", pos(&t.train)),
        ("op", pos(&t.op)),
        ("shapes", pos(&t.shapes)),
    ];
    for (field, at) in present {
        if let Some((line, col)) = at {
            if !allowed.contains(&field) {
                return Err(schema::at(
                    ctx.text,
                    ctx.file,
                    line as usize,
                    col as usize,
                    format!(
                        "`{field}` is not a field of {kind} tasks (they take {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
    }
    if t.preprocess.is_some() && kind != "accuracy" {
        return Err(ctx.err(&t.kind, format!("`preprocess` is not a field of {kind} tasks")));
    }
    let require = |field: &str, present: bool| {
        if present {
            Ok(())
        } else {
            Err(ctx.err(&t.name, format!("{kind} task `{name}` needs `{field}`")))
        }
    };
    let weights_privacy = match &t.weights_privacy {
        Some(w) => Some(sweep::privacy(
            &S::new(serde_json::json!(w.value), w.referenced, w.defined),
            ctx.text,
            ctx.file,
        )?),
        None => (kind != "op").then_some(WeightPrivacy::Private),
    };
    let batch_size = match &t.batch_size {
        Some(b) if b.value == 0 => return Err(ctx.err(b, "needs at least one sample per batch")),
        Some(b) => Some(b.value),
        None => None,
    };
    let canonical = canonical(t);
    let description = t.description.clone();
    let kind = match kind {
        "op" => {
            require("op", t.op.is_some())?;
            require("shapes", t.shapes.is_some())?;
            let (op_s, shapes_s) = (t.op.as_ref().expect("required"), t.shapes.as_ref().expect("required"));
            let op = OpKind::parse(&op_s.value).map_err(|e| ctx.wrap(op_s, e))?;
            let spec = OpSpec {
                op,
                shapes: shapes_s.value.clone(),
                conv: Default::default(),
                reps: 1,
                warmup: 0,
                on_demand: false,
                seed: Some(seed),
                transport: TransportKind::Sim,
                insecure_share_seed: None,
            };
            spec.validate().map_err(|e| ctx.wrap(shapes_s, e))?;
            TaskKind::Op {
                op,
                shapes: shapes_s.value.clone(),
            }
        }
        "latency" => {
            require("model", t.model.is_some())?;
            require("input_shape", t.input_shape.is_some())?;
            let shape_s = t.input_shape.as_ref().expect("required");
            if shape_s.value.is_empty() || shape_s.value.contains(&0) {
                return Err(ctx.err(shape_s, "needs positive dimensions, batch first"));
            }
            let model = model_ref(ctx, t, None)?;
            let mut input_shape = shape_s.value.clone();
            if let Some(b) = batch_size {
                input_shape[0] = b;
            }
            check_model(ctx, t, &model, &input_shape, seed)?;
            return Ok(Task {
                name,
                description,
                kind: TaskKind::Latency { model, input_shape },
                canonical,
                batch_size: Some(batch_size.unwrap_or(shape_s.value[0])),
                weights_privacy,
                repetitions,
            });
        }
        _ => {
            require("model", t.model.is_some())?;
            require("data", t.data.is_some())?;
            let data_s = t.data.as_ref().expect("required");
            let split = crate::data::load(&data_s.value).map_err(|e| ctx.wrap(data_s, e))?;
            let trained = match &t.train {
                Some(tr) => Some((train_cache(ctx, tr)?, tr.value.clone())),
                None => None,
            };
            let model = model_ref(ctx, t, trained)?;
            let data = eval_data(ctx, t, &split, seed)?;
            let batch = batch_size.unwrap_or(8);
            let mut shape = vec![batch];
            shape.extend_from_slice(&data.samples.shape()[1..]);
            check_model(ctx, t, &model, &shape, seed)?;
            return Ok(Task {
                name,
                description,
                kind: TaskKind::Accuracy {
                    model,
                    data: Arc::new(data),
                },
                canonical,
                batch_size: Some(batch),
                weights_privacy,
                repetitions,
            });
        }
    };
    Ok(Task {
        name,
        description,
        kind,
        canonical,
        batch_size: None,
        weights_privacy: None,
        repetitions,
    })
}

fn pos<T>(v: &Option<S<T>>) -> Option<(u64, u64)> {
    v.as_ref().map(|s| (s.referenced.line(), s.referenced.column()))
}

/// The weights file a `train:` section caches to (used when it exists, trained into otherwise),
/// after checking the section's values.
fn train_cache(ctx: &Ctx, tr: &S<TrainFile>) -> Result<String> {
    if let Err((field, detail)) = train::check(&tr.value) {
        return Err(ctx.err(tr, format!("train.{field}: {detail}")));
    }
    Ok(abs(Path::new(&tr.value.weights)))
}

/// A model reference: a zoo name or an existing ONNX file, and an existing weights file.
fn model_ref(ctx: &Ctx, t: &TaskFile, trained: Option<(String, TrainFile)>) -> Result<ModelRef> {
    let m = t.model.as_ref().expect("required");
    let looks_like_file = m.value.ends_with(".onnx") || m.value.contains('/');
    let (model, label) = if looks_like_file {
        let p = Path::new(&m.value);
        if !p.is_file() {
            return Err(ctx.err(m, format!("no such model file {}", m.value)));
        }
        let label = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        (abs(p), label)
    } else if crate::nn::zoo::MODELS.contains(&m.value.as_str()) || m.value == crate::data::minilm::POLARITY_MODEL {
        (m.value.clone(), m.value.clone())
    } else {
        return Err(ctx.err(
            m,
            format!(
                "unknown zoo model `{}` (known: {}, {}; or give an .onnx file)",
                m.value,
                crate::nn::zoo::MODELS.join(", "),
                crate::data::minilm::POLARITY_MODEL
            ),
        ));
    };
    let (weights, train) = match (&t.weights, trained) {
        (Some(w), None) => {
            let p = Path::new(&w.value);
            if !p.is_file() {
                // Pretrained weights fetched into data/<set>/ name the command that fetches them.
                let hint = Path::new(&w.value)
                    .strip_prefix("data")
                    .ok()
                    .and_then(|rest| rest.components().next())
                    .map(|set| format!(" (run: scripts/fetch-data.sh {})", set.as_os_str().to_string_lossy()))
                    .unwrap_or_default();
                return Err(ctx.err(w, format!("no such weights file {}{hint}", w.value)));
            }
            (Some(abs(p)), None)
        }
        (Some(w), Some(_)) => return Err(ctx.err(w, "give `weights` or `train`, not both")),
        (None, Some((cache, spec))) => (Some(cache), Some(spec)),
        (None, None) => (None, None),
    };
    Ok(ModelRef {
        model,
        label,
        weights,
        train,
    })
}

/// Builds the model once for its input shape (with its weights), so a wrong shape or weights file
/// is reported before anything runs.
fn check_model(ctx: &Ctx, t: &TaskFile, m: &ModelRef, shape: &[usize], seed: u64) -> Result<()> {
    let weights = m.weights.as_deref().filter(|w| Path::new(w).is_file());
    crate::data::model::ModelSource::new(&m.model, seed)
        .with_weights(weights.map(std::path::PathBuf::from))
        .load(shape)
        .map(|_| ())
        .map_err(|e| ctx.wrap(t.model.as_ref().expect("required"), e))
}

/// The samples of an accuracy task: the split, or a stratified sample of `samples` of it drawn
/// with the experiment's `seed`, preprocessed.
fn eval_data(ctx: &Ctx, t: &TaskFile, split: &crate::data::Split, seed: u64) -> Result<EvalData> {
    let set = match t.split.as_ref().map(|s| (s, s.value.as_str())) {
        None | Some((_, "test")) => &split.test,
        Some((_, "train")) => &split.train,
        Some((s, other)) => return Err(ctx.err(s, format!("`{other}` is not test or train"))),
    };
    let population = set.len();
    if population == 0 {
        return Err(ctx.err(
            t.data.as_ref().expect("required"),
            format!("{} has no samples", set.name),
        ));
    }
    let (set, sample_seed) = match &t.samples {
        Some(s) if s.value == 0 => return Err(ctx.err(s, "needs at least one sample")),
        Some(s) if s.value > population => {
            return Err(ctx.err(s, format!("{} has only {population} samples", set.name)));
        }
        Some(s) if s.value < population => (set.stratified(s.value, seed)?, Some(seed)),
        _ => (set.clone(), None),
    };
    let samples = match &t.preprocess {
        Some(pre) => preprocess(&set.inputs, pre).map_err(|e| ctx.wrap(t.data.as_ref().expect("required"), e))?,
        None => set.inputs.clone(),
    };
    let dataset = t.data.as_ref().expect("required").value.clone();
    Ok(EvalData {
        provenance: crate::data::provenance(&dataset),
        dataset,
        name: set.name.clone(),
        samples,
        class_counts: set.class_counts(),
        labels: set.labels,
        population,
        sample_seed,
        preprocess: t.preprocess.clone(),
    })
}

/// The data owner's plaintext preprocessing of stacked samples `[n, ...]`: reshape each sample,
/// then (x − mean) / std. Applied alike to evaluated and training samples.
pub fn preprocess(samples: &F32Tensor, pre: &PreprocessFile) -> Result<F32Tensor> {
    let n = samples.shape().first().copied().unwrap_or(0);
    let mut out = samples.clone();
    if let Some(shape) = &pre.reshape {
        let mut full = vec![n];
        full.extend_from_slice(shape);
        out = out.reshape_exact(&full).map_err(|_| {
            Error::invalid(
                "preprocess.reshape",
                format!("{shape:?} does not hold a sample of shape {:?}", &samples.shape()[1..]),
            )
        })?;
    }
    let (mean, std) = (pre.mean.unwrap_or(0.0), pre.std.unwrap_or(1.0));
    if std <= 0.0 || !std.is_finite() {
        return Err(Error::invalid("preprocess.std", "must be positive"));
    }
    if mean != 0.0 || std != 1.0 {
        out = out.map(|x| (x - mean) / std);
    }
    Ok(out)
}

/// The task as written (relative paths as given), for run ids.
fn canonical(t: &TaskFile) -> String {
    let mut s = format!("name={};kind={}", t.name.value, t.kind.value);
    let mut add = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            s.push_str(&format!(";{k}={v}"));
        }
    };
    add("model", t.model.as_ref().map(|v| v.value.clone()));
    add("input_shape", t.input_shape.as_ref().map(|v| format!("{:?}", v.value)));
    add("weights", t.weights.as_ref().map(|v| v.value.clone()));
    add("data", t.data.as_ref().map(|v| v.value.clone()));
    add("split", t.split.as_ref().map(|v| v.value.clone()));
    add("samples", t.samples.as_ref().map(|v| v.value.to_string()));
    add(
        "preprocess",
        t.preprocess
            .as_ref()
            .map(|v| serde_json::to_string(v).expect("serialises")),
    );
    add(
        "train",
        t.train
            .as_ref()
            .map(|v| serde_json::to_string(&v.value).expect("serialises")),
    );
    add("op", t.op.as_ref().map(|v| v.value.clone()));
    add("shapes", t.shapes.as_ref().map(|v| format!("{:?}", v.value)));
    s
}

fn safe_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn abs(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}
