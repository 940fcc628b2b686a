//! Trained networks to and from NIR, the Neuromorphic Intermediate
//! Representation (Pedersen et al., Nat. Commun. 2024; the `nir` Python
//! package): the HDF5 graphs snnTorch, Norse, Rockpool, Sinabs, Spyx and
//! Lava-dl exchange, and the way onto Loihi 2, SpiNNaker2, Xylo and Speck.
//!
//! # The graph of an `lca` network
//!
//! ```text
//! input ─► fc0 (Affine W₀, b₀) ─► lif0 (CubaLIF) ─► fc1 ─► … ─► li2 (CubaLI) ─► output
//!                                   ▲      │
//!                                   └ rec0 ◄┘  (Linear R₀, recurrent layers only)
//! ```
//!
//! Spiking layers become `CubaLIF` nodes, a leaky readout a `CubaLI` node (no
//! spikes, no reset); how the readout's voltage trace is turned into a class
//! (`max`, `mean`, `exp`, or spike counts and first spikes of a spiking
//! output) is the model's loss, kept in the graph's metadata (`readout`), as
//! are thresholds and biases as trained, the reset rule (NIR 1.0 knows reset
//! to `v_reset` only; `reset = "subtract"` says the voltage drops by the
//! threshold instead) and, under `lca_model`, every setting of the model
//! file that is not a weight (encoder, feature scaling, event binning,
//! surrogate, loss), so that lca → NIR → lca gives the identical model.
//!
//! # Discretisation
//!
//! NIR is continuous time: `τ_syn İ = −I + w_in·S` and `τ_mem v̇ = (v_leak − v)
//! + R·I`. Our layers are its forward-Euler discretisation at the step `dt`
//! (graph metadata `dt`, [`DT`] = 10⁻⁴ s as in snnTorch's exporter) with
//!
//! ```text
//! τ_syn = dt / (1 − a)     w_in = τ_syn / dt = 1 / (1 − a)
//! τ_mem = dt / (1 − β)     R    = τ_mem / dt = 1 / (1 − β)     v_leak = 0
//! ```
//!
//! where `a` and `β` are the current and voltage decays: Euler steps of the
//! ODEs then give `I[t] = a·I[t−1] + S[t]` and `v[t] = β·v[t−1] + I[t]`,
//! our recursion exactly, so a simulator stepping at `dt` (snnTorch's
//! `import_from_nir` does) reproduces our dynamics. A time constant in steps
//! is `1 / (1 − decay)`; a decay of exactly 1 (no leak) has no finite τ and
//! is refused. A recurrent spike reaches its targets one step later, as in
//! any time-stepped simulation of a cycle. Networks trained by EventProp
//! time their spikes within the step (`spike_timing = "interpolated"` in the
//! metadata): a continuous-time simulator follows them more closely than a
//! stepped one.
//!
//! # Import
//!
//! [`Graph::to_network`] runs graphs made elsewhere: chains of `Affine` or
//! `Linear` weights into `CubaLIF`, `LIF`, `IF`, `CubaLI` or `LI` neurons,
//! with optional recurrent weights from a population onto itself, and
//! subgraphs (snnTorch exports `RSynaptic` layers as one) flattened. Other
//! nodes, other cycles, neurons whose per-neuron time constants or
//! thresholds differ (an lca layer shares one), non-zero `v_leak` and
//! non-finite numbers are refused naming the node. The weights are folded with the input
//! gains (`W·w_in·dt/τ_syn·R·dt/τ_mem` for `CubaLIF`, `W·R·dt/τ` for
//! `LIF` and `W·R·dt` for `IF`), which is exactly the Euler step above.

use std::collections::BTreeMap;
use std::path::Path;

use super::defaults::Recipe;
use super::layer::{LayerKind, LayerSpec};
use super::network::Network;
use super::streams::Binning;
use super::train::Model;
use crate::error::{Error, Result};
use crate::io::hdf5::{self, Array, Entry, Kind, Tree};
use crate::neuron::Reset;

/// The step of the Euler discretisation written into exported graphs
/// (seconds; snnTorch's exporter uses the same), and assumed for imported
/// graphs without a `dt` in their metadata.
pub const DT: f64 = 1e-4;

/// The NIR version whose node layout this module writes.
pub const NIR_VERSION: &str = "1.0";

/// One node: its NIR type, its parameters and its metadata (and, for a
/// `NIRGraph` node, the subgraph).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// NIR type name (`Affine`, `CubaLIF`, ...).
    pub kind: String,
    /// Numeric parameters by NIR name (`weight`, `tau_mem`, ...).
    pub params: BTreeMap<String, Array>,
    /// The node's `metadata` group.
    pub metadata: Tree,
    /// The subgraph of a `NIRGraph` node.
    pub graph: Option<Box<Graph>>,
}

impl Node {
    fn new(kind: &str) -> Self {
        Node {
            kind: kind.to_string(),
            params: BTreeMap::new(),
            metadata: Tree::new(),
            graph: None,
        }
    }

    fn with(mut self, name: &str, a: Array) -> Self {
        self.params.insert(name.to_string(), a);
        self
    }
}

/// A NIR graph: named nodes, directed edges and metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    /// Nodes by name.
    pub nodes: BTreeMap<String, Node>,
    /// Edges `(source, target)`.
    pub edges: Vec<(String, String)>,
    /// The graph's `metadata` group.
    pub metadata: Tree,
}

fn vec1(data: Vec<f64>, kind: Kind) -> Array {
    Array::new(vec![data.len()], data, kind)
}

fn meta_str(t: &Tree, key: &str) -> Option<String> {
    match t.get(key) {
        Some(Entry::Strings { values, .. }) => values.first().cloned(),
        _ => None,
    }
}

impl Graph {
    /// Reads a NIR file (as `nir.write` makes it). Errors name the file and
    /// the node.
    pub fn read(path: &Path) -> Result<Graph> {
        let tree = hdf5::read_tree(path)?;
        let Some(Entry::Group(node)) = tree.get("node") else {
            return Err(Error::format(path, "no 'node' group: not a NIR graph file"));
        };
        let bad = |m: String| Error::format(path, m);
        let g = parse_node(node, "").map_err(bad)?;
        match g.graph {
            Some(g) => Ok(*g),
            None => Err(Error::format(
                path,
                format!("the top node is a {}, not a NIRGraph", g.kind),
            )),
        }
    }

    /// Writes the graph as a NIR file that `nir.read` loads, atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut tree = Tree::new();
        tree.insert("version".into(), Entry::string(NIR_VERSION));
        tree.insert("node".into(), Entry::Group(graph_tree(self)));
        hdf5::write_tree(path, &tree)
    }
}

fn graph_tree(g: &Graph) -> Tree {
    let mut t = Tree::new();
    t.insert("type".into(), Entry::string("NIRGraph"));
    let mut nodes = Tree::new();
    for (name, n) in &g.nodes {
        let mut nt = match &n.graph {
            Some(sub) => graph_tree(sub),
            None => {
                let mut nt = Tree::new();
                nt.insert("type".into(), Entry::string(n.kind.clone()));
                nt
            }
        };
        for (k, a) in &n.params {
            nt.insert(k.clone(), Entry::Array(a.clone()));
        }
        if !n.metadata.is_empty() {
            nt.insert("metadata".into(), Entry::Group(n.metadata.clone()));
        }
        nodes.insert(name.clone(), Entry::Group(nt));
    }
    t.insert("nodes".into(), Entry::Group(nodes));
    t.insert(
        "edges".into(),
        Entry::Strings {
            shape: vec![g.edges.len(), 2],
            values: g
                .edges
                .iter()
                .flat_map(|(a, b)| [a.clone(), b.clone()])
                .collect(),
        },
    );
    if !g.metadata.is_empty() {
        t.insert("metadata".into(), Entry::Group(g.metadata.clone()));
    }
    t
}

fn parse_node(t: &Tree, at: &str) -> std::result::Result<Node, String> {
    let kind = meta_str(t, "type").ok_or_else(|| format!("node '{at}' has no 'type'"))?;
    let mut node = Node::new(&kind);
    if let Some(Entry::Group(m)) = t.get("metadata") {
        node.metadata = m.clone();
    }
    if kind == "NIRGraph" {
        let Some(Entry::Group(nodes)) = t.get("nodes") else {
            return Err(format!("graph '{at}' has no 'nodes' group"));
        };
        let mut g = Graph {
            metadata: node.metadata.clone(),
            ..Graph::default()
        };
        for (name, e) in nodes {
            let Entry::Group(nt) = e else {
                return Err(format!("'{at}/nodes/{name}' is not a group"));
            };
            let inner = if at.is_empty() {
                name.clone()
            } else {
                format!("{at}.{name}")
            };
            g.nodes.insert(name.clone(), parse_node(nt, &inner)?);
        }
        match t.get("edges") {
            Some(Entry::Strings { values, .. }) if values.len() % 2 == 0 => {
                for e in values.chunks_exact(2) {
                    g.edges.push((e[0].clone(), e[1].clone()));
                }
            }
            None => {}
            Some(_) => return Err(format!("graph '{at}': 'edges' is not a list of name pairs")),
        }
        for (a, b) in &g.edges {
            for end in [a, b] {
                let base = end.split('.').next().unwrap_or(end);
                if !g.nodes.contains_key(end) && !g.nodes.contains_key(base) {
                    return Err(format!("graph '{at}': an edge names unknown node '{end}'"));
                }
            }
        }
        node.graph = Some(Box::new(g));
        return Ok(node);
    }
    for (k, e) in t {
        if let Entry::Array(a) = e {
            if a.data.iter().any(|v| !v.is_finite()) {
                return Err(format!(
                    "node '{at}' ({kind}): '{k}' holds NaN or infinite values"
                ));
            }
            node.params.insert(k.clone(), a.clone());
        }
    }
    Ok(node)
}

// ---------------------------------------------------------------------------
// Export

/// Name of the graph metadata entry holding the model's settings as JSON.
const MODEL_KEY: &str = "lca_model";

/// The NIR graph of a trained model (module docs), steps of [`DT`].
pub fn to_nir(model: &Model) -> Result<Graph> {
    let net = &model.network;
    let dt = DT;
    let mut g = Graph::default();
    g.nodes.insert(
        "input".into(),
        Node::new("Input").with("shape", vec1(vec![net.n_inputs as f64], Kind::Int)),
    );
    let mut prev = "input".to_string();
    for (l, layer) in net.layers.iter().enumerate() {
        let (n, ni) = (layer.size(), layer.n_in);
        let p = &net.params[layer.offset..layer.offset + layer.n_params()];
        let (w, rest) = p.split_at(n * ni);
        let n_rec = if layer.spec.kind == LayerKind::Recurrent {
            n * n
        } else {
            0
        };
        let (r, rest) = rest.split_at(n_rec);
        let (b, s) = rest.split_at(n);
        let (a, beta, th) = (f64::from(s[0]), f64::from(s[1]), f64::from(s[2]));
        for (what, d) in [("current", a), ("voltage", beta)] {
            if d >= 1.0 {
                return Err(Error::Data(format!(
                    "layer {l}: a {what} decay of {d} (no leak) has no finite NIR time constant"
                )));
            }
        }
        // (out, in) in C order from our column-major `size × n_in`.
        let transpose = |m: &[f32], rows: usize, cols: usize| -> Vec<f64> {
            let mut out = vec![0.0; rows * cols];
            for j in 0..cols {
                for i in 0..rows {
                    out[i * cols + j] = f64::from(m[j * rows + i]);
                }
            }
            out
        };
        let fc = format!("fc{l}");
        g.nodes.insert(
            fc.clone(),
            Node::new("Affine")
                .with(
                    "weight",
                    Array::new(vec![n, ni], transpose(w, n, ni), Kind::F32),
                )
                .with(
                    "bias",
                    vec1(b.iter().map(|&v| f64::from(v)).collect(), Kind::F32),
                ),
        );
        let spiking = layer.spiking();
        let neurons = if spiking {
            format!("lif{l}")
        } else {
            format!("li{l}")
        };
        let full = |v: f64| vec1(vec![v; n], Kind::F64);
        let (tau_syn, tau_mem) = (dt / (1.0 - a), dt / (1.0 - beta));
        let mut node = Node::new(if spiking { "CubaLIF" } else { "CubaLI" })
            .with("tau_syn", full(tau_syn))
            .with("tau_mem", full(tau_mem))
            .with("r", full(1.0 / (1.0 - beta)))
            .with("w_in", full(1.0 / (1.0 - a)))
            .with("v_leak", full(0.0));
        if spiking {
            node = node
                .with("v_threshold", full(th))
                .with("v_reset", full(0.0));
            if layer.spec.neuron.reset == Reset::Subtract {
                node.metadata
                    .insert("reset".into(), Entry::string("subtract"));
            }
        }
        g.nodes.insert(neurons.clone(), node);
        g.edges.push((prev.clone(), fc.clone()));
        g.edges.push((fc, neurons.clone()));
        if n_rec > 0 {
            let rec = format!("rec{l}");
            g.nodes.insert(
                rec.clone(),
                Node::new("Linear").with(
                    "weight",
                    Array::new(vec![n, n], transpose(r, n, n), Kind::F32),
                ),
            );
            g.edges.push((neurons.clone(), rec.clone()));
            g.edges.push((rec, neurons.clone()));
        }
        prev = neurons;
    }
    g.nodes.insert(
        "output".into(),
        Node::new("Output").with("shape", vec1(vec![net.n_outputs() as f64], Kind::Int)),
    );
    g.edges.push((prev, "output".into()));

    let m = &mut g.metadata;
    m.insert("dt".into(), Entry::Array(Array::scalar(dt, Kind::F64)));
    m.insert("readout".into(), Entry::string(model.loss.name()));
    m.insert(
        "spike_timing".into(),
        Entry::string(match net.timing {
            super::SpikeTiming::Step => "step",
            super::SpikeTiming::Interpolated => "interpolated",
        }),
    );
    m.insert("generator".into(), Entry::string("lca"));
    let mut settings = model.clone();
    settings.network.params.clear();
    let json = serde_json::to_string(&settings)
        .map_err(|e| Error::Internal(format!("cannot serialise the model settings: {e}")))?;
    m.insert(MODEL_KEY.into(), Entry::string(json));
    Ok(g)
}

// ---------------------------------------------------------------------------
// Import

/// What an imported graph does not say and a model needs: the recipe whose
/// encoder, time steps and loss apply to a graph made elsewhere, and the
/// binning of event streams it will read (if any).
#[derive(Clone, Debug)]
pub struct Defaults {
    /// Recipe of the dataset the graph will run on.
    pub recipe: Recipe,
    /// Name recorded as the model's dataset.
    pub dataset: String,
    /// Binning of event streams (`None`: features).
    pub events: Option<Binning>,
}

/// One population of neurons found in the graph, with what feeds it.
struct Population {
    /// Neuron node name.
    name: String,
    /// Feed-forward weights `(size, n_in)` C order, folded with the gains.
    w: Vec<f64>,
    b: Vec<f64>,
    /// Recurrent weights `(size, size)`, folded.
    r: Option<Vec<f64>>,
    size: usize,
    n_in: usize,
    a: f64,
    beta: f64,
    threshold: Option<f64>,
    reset: Reset,
}

fn err_node(name: &str, kind: &str, msg: impl std::fmt::Display) -> Error {
    Error::Data(format!("NIR node '{name}' ({kind}): {msg}"))
}

/// A flat graph: subgraphs inlined as `outer.inner`, their `Input` and
/// `Output` nodes and every top-level edge through them rewired.
fn flatten(g: &Graph) -> Graph {
    let mut out = Graph {
        metadata: g.metadata.clone(),
        ..Graph::default()
    };
    // edges into a subgraph go to what its input feeds; edges out of it
    // come from what feeds its output
    let mut entry: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut exit: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, n) in &g.nodes {
        match &n.graph {
            Some(sub) => {
                let sub = flatten(sub);
                let inputs: Vec<&String> = sub
                    .nodes
                    .iter()
                    .filter(|(_, m)| m.kind == "Input")
                    .map(|(k, _)| k)
                    .collect();
                let outputs: Vec<&String> = sub
                    .nodes
                    .iter()
                    .filter(|(_, m)| m.kind == "Output")
                    .map(|(k, _)| k)
                    .collect();
                let q = |k: &str| format!("{name}.{k}");
                for (k, m) in &sub.nodes {
                    if m.kind != "Input" && m.kind != "Output" {
                        out.nodes.insert(q(k), m.clone());
                    }
                }
                let mut ent = Vec::new();
                let mut ext = Vec::new();
                for (a, b) in &sub.edges {
                    match (inputs.contains(&a), outputs.contains(&b)) {
                        (true, true) => {}
                        (true, false) => ent.push(q(b)),
                        (false, true) => ext.push(q(a)),
                        (false, false) => out.edges.push((q(a), q(b))),
                    }
                }
                for i in &inputs {
                    entry.insert(q(i), ent.clone());
                }
                for o in &outputs {
                    exit.insert(q(o), ext.clone());
                }
                entry.insert(name.clone(), ent);
                exit.insert(name.clone(), ext);
            }
            None => {
                out.nodes.insert(name.clone(), n.clone());
            }
        }
    }
    for (a, b) in &g.edges {
        let srcs = exit.get(a).cloned().unwrap_or_else(|| vec![a.clone()]);
        let dsts = entry.get(b).cloned().unwrap_or_else(|| vec![b.clone()]);
        for s in &srcs {
            for d in &dsts {
                out.edges.push((s.clone(), d.clone()));
            }
        }
    }
    out
}

fn param<'a>(name: &str, node: &'a Node, key: &str, len: usize) -> Result<&'a [f64]> {
    let a = node
        .params
        .get(key)
        .ok_or_else(|| err_node(name, &node.kind, format!("missing '{key}'")))?;
    // scalars broadcast, as nir does
    if a.data.len() == 1 && len != 1 {
        return Ok(&a.data[..1]);
    }
    if a.data.len() != len {
        return Err(err_node(
            name,
            &node.kind,
            format!("'{key}' has {} values for {len} neurons", a.data.len()),
        ));
    }
    Ok(&a.data)
}

/// The one value every neuron of `name` shares (an lca layer has one).
fn shared(name: &str, node: &Node, key: &str, len: usize) -> Result<f64> {
    let v = param(name, node, key, len)?;
    let first = v[0];
    if v.iter()
        .any(|&x| (x - first).abs() > 1e-9 * first.abs().max(1e-30))
    {
        return Err(err_node(
            name,
            &node.kind,
            format!("per-neuron '{key}' differ; an lca layer shares one value"),
        ));
    }
    Ok(first)
}

/// The weight `(rows, cols)` of an `Affine` or `Linear` node, and its bias.
fn weights(name: &str, node: &Node) -> Result<(usize, usize, Vec<f64>, Vec<f64>)> {
    let w = node
        .params
        .get("weight")
        .ok_or_else(|| err_node(name, &node.kind, "missing 'weight'"))?;
    if w.shape.len() != 2 {
        return Err(err_node(
            name,
            &node.kind,
            format!("weight of shape {:?}: expected (outputs, inputs)", w.shape),
        ));
    }
    let (rows, cols) = (w.shape[0], w.shape[1]);
    let bias = match node.params.get("bias") {
        Some(b) if node.kind == "Affine" => {
            if b.data.len() != rows {
                return Err(err_node(
                    name,
                    &node.kind,
                    format!("{} biases for {rows} outputs", b.data.len()),
                ));
            }
            b.data.clone()
        }
        _ => vec![0.0; rows],
    };
    Ok((rows, cols, w.data.clone(), bias))
}

impl Graph {
    /// The network this graph computes (module docs, "Import"), stepping at
    /// the graph's `dt` (metadata) or [`DT`].
    pub fn to_network(&self, surrogate: crate::neuron::Surrogate) -> Result<Network> {
        let g = flatten(self);
        let dt = match g.metadata.get("dt") {
            Some(Entry::Array(a)) if a.data.len() == 1 && a.data[0] > 0.0 => a.data[0],
            _ => DT,
        };
        let supported = [
            "Input", "Output", "Affine", "Linear", "CubaLIF", "LIF", "IF", "CubaLI", "LI",
        ];
        for (name, n) in &g.nodes {
            if !supported.contains(&n.kind.as_str()) {
                return Err(err_node(
                    name,
                    &n.kind,
                    format!(
                        "lca cannot run this node type (it runs {})",
                        supported.join(", ")
                    ),
                ));
            }
        }
        let preds = |n: &str| -> Vec<&String> {
            g.edges
                .iter()
                .filter(|(_, b)| b == n)
                .map(|(a, _)| a)
                .collect()
        };
        let succs = |n: &str| -> Vec<&String> {
            g.edges
                .iter()
                .filter(|(a, _)| a == n)
                .map(|(_, b)| b)
                .collect()
        };
        let is_neuron = |k: &str| matches!(k, "CubaLIF" | "LIF" | "IF" | "CubaLI" | "LI");
        let inputs: Vec<&String> = g
            .nodes
            .iter()
            .filter(|(_, n)| n.kind == "Input")
            .map(|(k, _)| k)
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(Error::Data(format!(
                "NIR graph: lca runs graphs with exactly one Input node, found {}",
                inputs.len()
            )));
        };
        let n_inputs = match g.nodes[*input].params.get("shape") {
            Some(s) if !s.data.is_empty() => s.data.iter().product::<f64>() as usize,
            _ => 0,
        };
        let mut pops: Vec<Population> = Vec::new();
        let mut cur: String = (*input).clone();
        let mut width = n_inputs;
        let mut visited = std::collections::BTreeSet::new();
        loop {
            // successors of the current population, less its own recurrence
            let fwd: Vec<&String> = succs(&cur)
                .into_iter()
                .filter(|s| !succs(s).iter().any(|t| **t == cur))
                .collect();
            let [next] = fwd.as_slice() else {
                return Err(Error::Data(format!(
                    "NIR node '{cur}': lca runs chains of layers, but it feeds {} nodes ({})",
                    fwd.len(),
                    fwd.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let next = (*next).clone();
            if !visited.insert(next.clone()) {
                return Err(Error::Data(format!(
                    "NIR node '{next}': a cycle lca cannot run (only a population's own recurrent weights may loop back)"
                )));
            }
            let nn = &g.nodes[&next];
            if nn.kind == "Output" {
                break;
            }
            if nn.kind != "Affine" && nn.kind != "Linear" {
                return Err(err_node(
                    &next,
                    &nn.kind,
                    format!("expected weights (Affine or Linear) after '{cur}'"),
                ));
            }
            let (rows, cols, w, b) = weights(&next, nn)?;
            if cols != width && width != 0 {
                return Err(err_node(
                    &next,
                    &nn.kind,
                    format!("takes {cols} inputs but '{cur}' gives {width}"),
                ));
            }
            let after = succs(&next);
            let [pop] = after.as_slice() else {
                return Err(err_node(
                    &next,
                    &nn.kind,
                    format!(
                        "feeds {} nodes; lca layers feed one population",
                        after.len()
                    ),
                ));
            };
            let pop = (*pop).clone();
            let pn = &g.nodes[&pop];
            if !is_neuron(&pn.kind) {
                return Err(err_node(
                    &pop,
                    &pn.kind,
                    format!("expected neurons after the weights '{next}'"),
                ));
            }
            if !visited.insert(pop.clone()) {
                return Err(Error::Data(format!(
                    "NIR node '{pop}': a cycle lca cannot run"
                )));
            }
            // recurrent weights: a node fed by this population that feeds it back
            let mut rec = None;
            for p in preds(&pop) {
                if *p == next {
                    continue;
                }
                let rn = &g.nodes[p];
                let loops =
                    preds(p).iter().all(|q| **q == pop) && succs(p).iter().all(|q| **q == pop);
                if !(loops && (rn.kind == "Affine" || rn.kind == "Linear")) {
                    return Err(err_node(
                        &pop,
                        &pn.kind,
                        format!(
                            "fed by '{p}' as well as '{next}': lca neurons take one input and their own recurrence"
                        ),
                    ));
                }
                if rec.is_some() {
                    return Err(err_node(&pop, &pn.kind, "more than one recurrent weight"));
                }
                let (rr, rc, rw, rb) = weights(p, rn)?;
                if rr != rows || rc != rows {
                    return Err(err_node(
                        p,
                        &rn.kind,
                        format!("recurrent weight ({rr}, {rc}) for {rows} neurons"),
                    ));
                }
                if rb.iter().any(|&v| v != 0.0) {
                    return Err(err_node(p, &rn.kind, "recurrent bias is not supported"));
                }
                rec = Some(rw);
            }
            let mut population = neuron_layer(&pop, pn, rows, dt)?;
            let gains = population.1;
            let fold = |m: &mut Vec<f64>, cols: usize| {
                for (i, g) in gains.iter().enumerate() {
                    for v in &mut m[i * cols..(i + 1) * cols] {
                        *v *= g;
                    }
                }
            };
            let (mut w, mut b) = (w, b);
            fold(&mut w, cols);
            for (bi, g) in b.iter_mut().zip(&gains) {
                *bi *= g;
            }
            if let Some(r) = rec.as_mut() {
                fold(r, rows);
            }
            population.0.name = pop.clone();
            population.0.w = w;
            population.0.b = b;
            population.0.r = rec;
            population.0.n_in = cols;
            pops.push(population.0);
            width = rows;
            cur = pop;
        }
        if pops.is_empty() {
            return Err(Error::Data(
                "NIR graph: no neurons between input and output".into(),
            ));
        }
        for (k, p) in pops.iter().enumerate() {
            if p.threshold.is_none() && k + 1 != pops.len() {
                return Err(Error::Data(format!(
                    "NIR node '{}': a non-spiking population can only be the last layer",
                    p.name
                )));
            }
        }
        let specs: Vec<LayerSpec> = pops
            .iter()
            .map(|p| {
                let kind = match (p.threshold.is_some(), p.r.is_some()) {
                    (false, _) => LayerKind::Readout,
                    (true, true) => LayerKind::Recurrent,
                    (true, false) => LayerKind::FeedForward,
                };
                let mut s = LayerSpec::new(kind, p.size, p.a as f32, p.beta as f32);
                s.neuron.threshold = p.threshold.unwrap_or(1.0) as f32;
                s.neuron.reset = p.reset;
                s
            })
            .collect();
        let mut net = Network::new(pops[0].n_in, &specs, surrogate, 0)?;
        for (layer, p) in net.layers.clone().iter().zip(&pops) {
            let (n, ni) = (layer.size(), layer.n_in);
            let o = layer.offset;
            for i in 0..n {
                for j in 0..ni {
                    net.params[o + j * n + i] = p.w[i * ni + j] as f32;
                }
            }
            let mut q = o + n * ni;
            if let Some(r) = &p.r {
                for i in 0..n {
                    for j in 0..n {
                        net.params[q + j * n + i] = r[i * n + j] as f32;
                    }
                }
                q += n * n;
            }
            for i in 0..n {
                net.params[q + i] = p.b[i] as f32;
            }
        }
        if let Some(i) = net.params.iter().position(|v| !v.is_finite()) {
            return Err(Error::Data(format!(
                "NIR graph: parameter {i} is not finite after folding the gains"
            )));
        }
        Ok(net)
    }

    /// The model this graph computes: exactly the exported one when the
    /// graph came from [`to_nir`] (its `lca_model` metadata), else the
    /// network with the encoder, time steps and loss of `defaults` (the
    /// loss is the recipe's for a readout, spike counts for spiking outputs).
    pub fn to_model(&self, defaults: &Defaults) -> Result<Model> {
        let saved: Option<Model> = match meta_str(&self.metadata, MODEL_KEY) {
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
                Error::Data(format!(
                    "NIR graph metadata '{MODEL_KEY}' is not an lca model: {e}"
                ))
            })?),
            None => None,
        };
        let surrogate = saved
            .as_ref()
            .map_or(defaults.recipe.surrogate, |m| m.network.surrogate);
        let net = self.to_network(surrogate)?;
        if let Some(mut m) = saved {
            let same = m.network.n_inputs == net.n_inputs
                && m.network.layers.len() == net.layers.len()
                && m.network
                    .layers
                    .iter()
                    .zip(&net.layers)
                    .all(|(a, b)| a.size() == b.size() && a.spec.kind == b.spec.kind);
            if !same {
                return Err(Error::Data(format!(
                    "NIR graph: its '{MODEL_KEY}' metadata describes other layers than its nodes"
                )));
            }
            // the layer specs (initial settings) stay as saved; the trained
            // weights, decays and thresholds are the graph's, except a
            // readout's threshold slot, which NIR has no place for
            let mut params = net.params.clone();
            for l in &m.network.layers {
                if !l.spiking() {
                    params[l.scalar_offset() + 2] = l.spec.neuron.threshold;
                }
            }
            m.network.params = params;
            return Ok(m);
        }
        let n_classes = net.n_outputs();
        let loss = if net.has_readout() {
            if defaults.recipe.train.loss.needs_readout() {
                defaults.recipe.train.loss
            } else {
                super::Loss::MaxVoltage
            }
        } else if defaults.recipe.train.loss.needs_readout() {
            super::Loss::SpikeCount
        } else {
            defaults.recipe.train.loss
        };
        let mut loss = loss;
        if let super::Loss::ExpVoltage { tau } = &mut loss
            && *tau == 0.0
        {
            *tau = defaults.recipe.time_steps as f32;
        }
        Ok(Model {
            format: Model::FORMAT.to_string(),
            dataset: defaults.dataset.clone(),
            n_classes,
            scaling: super::Scaling::identity(net.n_inputs),
            encoder: defaults.recipe.encoder(),
            loss,
            seed: 0,
            events: defaults.events.map(|b| Binning {
                n_channels: net.n_inputs,
                ..b
            }),
            network: net,
        })
    }
}

/// Decays, threshold and reset of neuron node `name` with `n` neurons at
/// step `dt`, and the per-neuron gain its input is multiplied by.
fn neuron_layer(name: &str, node: &Node, n: usize, dt: f64) -> Result<(Population, Vec<f64>)> {
    let kind = node.kind.as_str();
    let decay = |tau: f64, what: &str| -> Result<f64> {
        if tau <= 0.0 {
            return Err(err_node(
                name,
                kind,
                format!("{what} must be positive, got {tau}"),
            ));
        }
        let d = 1.0 - dt / tau;
        if d < 0.0 {
            return Err(err_node(
                name,
                kind,
                format!("{what} = {tau} is shorter than the step dt = {dt}"),
            ));
        }
        Ok(d)
    };
    let v_leak = param(name, node, "v_leak", n).unwrap_or(&[0.0]);
    if kind != "IF" && v_leak.iter().any(|&v| v != 0.0) {
        return Err(err_node(name, kind, "non-zero v_leak is not supported"));
    }
    let r = param(name, node, "r", n)?;
    let full = |v: &[f64]| -> Vec<f64> {
        if v.len() == 1 {
            vec![v[0]; n]
        } else {
            v.to_vec()
        }
    };
    let (a, beta, gains) = match kind {
        "CubaLIF" | "CubaLI" => {
            let ts = shared(name, node, "tau_syn", n)?;
            let tm = shared(name, node, "tau_mem", n)?;
            let w_in = full(param(name, node, "w_in", n)?);
            let gains: Vec<f64> = full(r)
                .iter()
                .zip(&w_in)
                .map(|(r, w)| w * (dt / ts) * r * (dt / tm))
                .collect();
            (decay(ts, "tau_syn")?, decay(tm, "tau_mem")?, gains)
        }
        "LIF" | "LI" => {
            let t = shared(name, node, "tau", n)?;
            let gains = full(r).iter().map(|r| r * dt / t).collect();
            (0.0, decay(t, "tau")?, gains)
        }
        _ => {
            // IF: v̇ = R·I, no leak
            let gains = full(r).iter().map(|r| r * dt).collect();
            (0.0, 1.0, gains)
        }
    };
    let spiking = matches!(kind, "CubaLIF" | "LIF" | "IF");
    let (threshold, reset) = if spiking {
        let th = shared(name, node, "v_threshold", n)?;
        if th <= 0.0 {
            return Err(err_node(
                name,
                kind,
                format!("threshold {th} must be positive"),
            ));
        }
        let subtract = meta_str(&node.metadata, "reset").as_deref() == Some("subtract");
        if !subtract
            && let Some(vr) = node.params.get("v_reset")
            && vr.data.iter().any(|&v| v != 0.0)
        {
            return Err(err_node(name, kind, "non-zero v_reset is not supported"));
        }
        (
            Some(th),
            if subtract {
                Reset::Subtract
            } else {
                Reset::Zero
            },
        )
    } else {
        (None, Reset::Zero)
    };
    Ok((
        Population {
            name: name.to_string(),
            w: Vec::new(),
            b: Vec::new(),
            r: None,
            size: n,
            n_in: 0,
            a,
            beta,
            threshold,
            reset,
        },
        gains,
    ))
}

/// Reads a NIR file into a model ([`Graph::to_model`]); errors name the file.
pub fn read_model(path: &Path, defaults: &Defaults) -> Result<Model> {
    let g = Graph::read(path)?;
    g.to_model(defaults).map_err(|e| match e {
        Error::Data(m) | Error::Shape(m) => Error::format(path, m),
        Error::InvalidSetting { reason, .. } => Error::format(path, reason),
        other => other,
    })
}

/// Writes a model as a NIR file ([`to_nir`]), atomically.
pub fn write_model(model: &Model, path: &Path) -> Result<()> {
    to_nir(model)?.write(path)
}

// ---------------------------------------------------------------------------
// The spiking LCA

/// The spiking LCA ([`crate::solver::spiking`]) of `dict` with settings `p`
/// as a NIR graph, so the same dictionary runs on any NIR backend:
///
/// ```text
/// input (x) ─► drive (Affine: dt·Φᵀ, bias −dt·λ) ─► neurons (IF, ϑ) ─► output (spikes)
///                                                    ▲        │
///                                                    └ inhibition (Linear: −ϑ·G) ◄┘
/// ```
///
/// Signed codes use ON/OFF pairs (`neurons` `k..2k` carry `−φ`; a spike
/// excites its partner by `κ·ϑ`, `κ = pair_coupling`). The IF neurons reset
/// by subtracting ϑ (metadata `reset = "subtract"`; NIR 1.0 knows only reset
/// to `v_reset`), and `r = 1/dt` with the graph's `dt` ([`DT`]), so one Euler
/// step adds the drive and the inhibition of the previous step's spikes to
/// the voltage: our recursion exactly. The code of atom `i` is
/// `ϑ·(spikes of i⁺ − spikes of i⁻)/(window·dt_lca)` over the steps after
/// `settle` (graph metadata). `lca encode` divides each signal by
/// `s = max|Φᵀx|` (and multiplies its codes by `s`); the graph is in the units
/// of `s = 1`: signals with `max|Φᵀx| = 1` give `lca encode`'s codes, others
/// run the same LCA (its rates still converge to the LASSO codes) with one
/// spike worth `ϑ/(window·dt_lca)`. With `fixed_point`, node `inhibition`'s
/// metadata holds the Loihi integer weights (`weight_int`, effective
/// `m·2^(6+e)` in units where the threshold is `threshold_int = 2¹⁶`) and the
/// shared exponent `weight_exponent`.
pub fn spiking_lca_graph(
    dict: &crate::Dictionary,
    p: &crate::solver::SpikingParams,
) -> Result<Graph> {
    if p.current_decay != 0.0 {
        return Err(Error::setting(
            "current_decay",
            "the NIR graph of the spiking LCA has IF neurons: use --current-decay 0",
        ));
    }
    let (k, n) = (dict.n_atoms(), dict.n_features());
    let m = if p.nonneg { k } else { 2 * k };
    let sign = |a: usize| if a < k { 1.0 } else { -1.0 };
    let (dt, th) = (f64::from(p.dt), f64::from(p.threshold));
    let mut w = vec![0.0; m * n];
    for a in 0..m {
        let phi = dict.atom(a % k);
        for j in 0..n {
            w[a * n + j] = sign(a) * dt * f64::from(phi[j]);
        }
    }
    let g = dict.inhibition();
    let kappa = f64::from(p.pair_coupling);
    let rec = |a: usize, b: usize| -> f64 {
        let pair = if a % k == b % k && a != b {
            th * kappa
        } else {
            0.0
        };
        -th * sign(a) * sign(b) * f64::from(g[(a % k, b % k)]) + pair
    };
    let mut r = vec![0.0; m * m];
    for a in 0..m {
        for b in 0..m {
            r[a * m + b] = rec(a, b);
        }
    }
    let full = |v: f64| vec1(vec![v; m], Kind::F64);
    let mut graph = Graph::default();
    graph.nodes.insert(
        "input".into(),
        Node::new("Input").with("shape", vec1(vec![n as f64], Kind::Int)),
    );
    graph.nodes.insert(
        "drive".into(),
        Node::new("Affine")
            .with("weight", Array::new(vec![m, n], w, Kind::F64))
            .with("bias", full(-dt * f64::from(p.lambda))),
    );
    let mut neurons = Node::new("IF")
        .with("r", full(1.0 / DT))
        .with("v_threshold", full(th))
        .with("v_reset", full(0.0));
    neurons
        .metadata
        .insert("reset".into(), Entry::string("subtract"));
    graph.nodes.insert("neurons".into(), neurons);
    let mut inhibition = Node::new("Linear").with("weight", Array::new(vec![m, m], r, Kind::F64));
    if p.fixed_point {
        let scale = f64::from(crate::solver::fixed_point::THRESHOLD);
        let mut values: Vec<f64> = g.as_slice().iter().map(|&v| f64::from(v) * scale).collect();
        values.push(scale * kappa);
        let q = crate::solver::fixed_point::QuantisedWeights::new(&values)?;
        let pair = if p.nonneg { 0 } else { q.values[k * k] };
        // column-major G: entry (i, j) at j·k + i
        let mut ints = vec![0.0; m * m];
        for a in 0..m {
            for b in 0..m {
                let gi = q.values[(b % k) * k + a % k];
                let v = -(sign(a) * sign(b)) as i64 * i64::from(gi);
                let pv = if a % k == b % k && a != b {
                    i64::from(pair)
                } else {
                    0
                };
                ints[a * m + b] = (v + pv) as f64;
            }
        }
        let md = &mut inhibition.metadata;
        md.insert(
            "weight_int".into(),
            Entry::Array(Array::new(vec![m, m], ints, Kind::Int)),
        );
        md.insert(
            "weight_exponent".into(),
            Entry::Array(Array::scalar(f64::from(q.exponent), Kind::Int)),
        );
        md.insert(
            "threshold_int".into(),
            Entry::Array(Array::scalar(scale, Kind::Int)),
        );
    }
    graph.nodes.insert("inhibition".into(), inhibition);
    graph.nodes.insert(
        "output".into(),
        Node::new("Output").with("shape", vec1(vec![m as f64], Kind::Int)),
    );
    for (a, b) in [
        ("input", "drive"),
        ("drive", "neurons"),
        ("neurons", "inhibition"),
        ("inhibition", "neurons"),
        ("neurons", "output"),
    ] {
        graph.edges.push((a.into(), b.into()));
    }
    let md = &mut graph.metadata;
    let num = |v: f64| Entry::Array(Array::scalar(v, Kind::F64));
    let int = |v: usize| Entry::Array(Array::scalar(v as f64, Kind::Int));
    md.insert("dt".into(), num(DT));
    md.insert("generator".into(), Entry::string("lca spiking LCA"));
    md.insert("lambda".into(), num(f64::from(p.lambda)));
    md.insert("lca_dt".into(), num(dt));
    md.insert("threshold".into(), num(th));
    md.insert("steps".into(), int(p.steps));
    md.insert("settle".into(), int(p.settle_steps()));
    md.insert("n_atoms".into(), int(k));
    md.insert("nonneg".into(), int(usize::from(p.nonneg)));
    md.insert("pair_coupling".into(), num(kappa));
    md.insert("fixed_point".into(), int(usize::from(p.fixed_point)));
    md.insert(
        "codes".into(),
        Entry::string(
            "a_i = threshold * (count of neuron i - count of neuron n_atoms + i if signed) / ((steps - settle) * lca_dt), spikes counted from step settle on; input x scaled so that max|Phi^T x| = 1",
        ),
    );
    Ok(graph)
}
