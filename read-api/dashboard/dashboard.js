// HCP's dashboards in the browser: plain script, no build step. Every value is put on the page as
// text (never as HTML), every request carries the key the user signed in with, and the server
// decides what that key may see: the page only asks.
(() => {
  'use strict';
  const $ = (selector) => document.querySelector(selector);
  const h = (tag, attributes = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) if (value !== undefined && value !== null) node.setAttribute(name, String(value));
    for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(child === undefined || child === null ? '' : String(child)));
    return node;
  };
  /** An SVG element, its attributes and text set as values (never markup). */
  const svgNode = (tag, attributes = {}, text) => {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  };
  const MODE_COLOURS = { mining: '#c77800', underclocked: '#e0a040', sleeping: '#999', off: '#bbb', warm_standby: '#2a9d8f', serving: '#1b5fb0', training: '#8a3ab9' };
  const table = (headers, rows) => h('table', {}, h('thead', {}, h('tr', {}, headers.map(([label, num]) => h('th', num ? { class: 'num' } : {}, label)))), h('tbody', {}, rows));
  const pct = (x) => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(1)} %`);
  const ms = (x) => (x === null || x === undefined ? '—' : x >= 60000 ? `${(x / 60000).toFixed(1)} min` : x >= 1000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);
  const usd = (micro) => `$${(micro / 1e6).toLocaleString('en-US', { maximumFractionDigits: 0 })}`;

  const keyOf = () => sessionStorage.getItem('hcp-api-key') || '';
  let client;
  let disposers = [];
  const stop = () => {
    for (const dispose of disposers) dispose();
    disposers = [];
    client?.dispose();
    client = undefined;
  };

  const gql = async (query, variables) => {
    const res = await fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${keyOf()}` }, body: JSON.stringify({ query, variables }) });
    const body = await res.json();
    if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
    if (body.error) throw new Error(body.error.message);
    return body.data;
  };
  const showError = (error) => {
    const note = $('#errors') ?? $('#view').appendChild(h('section', { id: 'errors', class: 'wide error' }));
    note.textContent = String(error?.message ?? error);
  };
  /** A graphql-ws subscription for as long as the view lives. */
  const live = (query, variables, onData) => {
    disposers.push(client.subscribe({ query, variables }, { next: (r) => (r.errors ? showError(new Error(r.errors.map((e) => e.message).join('; '))) : onData(r.data)), error: showError, complete: () => {} }));
  };

  // ---------------------------------------------------------------- operator ------------------
  const KPIS = `facilityId at asicUnits asicUnitsMining asicShareMining
    gpuUtilization { gpuType gpus available failed outOfService busy warm utilization }
    revenuePerHour { ai { microUsd } mining { microUsd } }
    tiers { priority waiting runs waitP50Ms waitP99Ms waitTargetMs slaCompliance }`;
  const POWER = `power { miningKw aiKw idleKw warmReserveKw }`;
  const RECOMMENDATION = `facilityId intervalStart reason confidence totalKw budgetKw switched
    policy { description } options { chosenMicroUsdPerHour miningOnlyMicroUsdPerHour aiOnlyMicroUsdPerHour }`;

  const kpiSection = (k) =>
    h('section', { 'data-facility': k.facilityId },
      h('h2', {}, `${k.facilityId} `, h('span', { class: 'muted', 'data-live': 'kpis-at' }, k.at)),
      h('div', { class: 'kv' },
        h('span', {}, 'ASICs mining'), h('span', {}, `${k.asicUnitsMining} of ${k.asicUnits} (${pct(k.asicShareMining)})`),
        h('span', {}, 'revenue per hour'), h('span', {}, `AI ${usd(k.revenuePerHour.ai.microUsd)} · mining ${usd(k.revenuePerHour.mining.microUsd)}`)),
      h('h2', {}, 'GPU pools'),
      table([['type'], ['GPUs', 1], ['available', 1], ['failed', 1], ['out of service', 1], ['busy', 1], ['warm', 1], ['utilization', 1]],
        k.gpuUtilization.map((g) =>
          h('tr', { 'data-gpu-type': g.gpuType },
            h('td', {}, g.gpuType), h('td', { class: 'num' }, g.gpus), h('td', { class: 'num' }, g.available),
            h('td', { class: g.failed > 0 ? 'num status-failed' : 'num', 'data-failed': g.failed }, g.failed), h('td', { class: 'num' }, g.outOfService),
            h('td', { class: 'num' }, g.busy), h('td', { class: 'num' }, g.warm), h('td', { class: 'num' }, pct(g.utilization))))),
      h('h2', {}, 'Queue by tier'),
      table([['tier'], ['waiting', 1], ['runs 24 h', 1], ['wait p50', 1], ['wait p99', 1], ['target', 1], ['SLA met', 1]],
        k.tiers.map((t) => h('tr', {}, h('td', {}, t.priority), h('td', { class: 'num' }, t.waiting), h('td', { class: 'num' }, t.runs), h('td', { class: 'num' }, ms(t.waitP50Ms)), h('td', { class: 'num' }, ms(t.waitP99Ms)), h('td', { class: 'num' }, ms(t.waitTargetMs)), h('td', { class: 'num' }, pct(t.slaCompliance))))));

  const recommendationSection = (r, facilityId) =>
    h('section', { 'data-recommendation': facilityId },
      h('h2', {}, `Controller · ${facilityId}`),
      r
        ? h('div', { class: 'kv' },
            h('span', {}, 'interval'), h('span', { 'data-live': 'recommendation-at' }, r.intervalStart),
            h('span', {}, 'why'), h('span', {}, r.reason),
            h('span', {}, 'policy'), h('span', {}, r.policy.description),
            h('span', {}, 'power'), h('span', {}, `${Math.round(r.totalKw).toLocaleString()} of ${r.budgetKw.toLocaleString()} kW`),
            h('span', {}, 'chosen per hour'), h('span', {}, `${usd(r.options.chosenMicroUsdPerHour)} (mining only ${usd(r.options.miningOnlyMicroUsdPerHour)}, AI only ${usd(r.options.aiOnlyMicroUsdPerHour)})`),
            h('span', {}, 'switched'), h('span', {}, r.switched.length ? r.switched.join(', ') : 'nothing'))
        : h('p', { class: 'muted' }, 'no decision yet'));

  /** Electricity price with each ASIC model's strike price, and BTC on the right axis. */
  const priceChart = (container, { powerFeed, strikes, power, btc }) => {
    const times = [...new Set([...power.keys(), ...btc.keys()])].sort((a, b) => a - b);
    const series = () => [times, times.map((t) => power.get(t) ?? null), ...strikes.map((s) => times.map(() => s.strikeUsdPerMwh)), times.map((t) => btc.get(t) ?? null)];
    const colors = ['#1b5fb0', '#c77800', '#8a3ab9', '#2a9d8f', '#b33'];
    const plot = new uPlot(
      {
        width: Math.max(320, container.clientWidth - 8),
        height: 260,
        scales: { x: { time: true }, usd: {}, btc: {} },
        axes: [{}, { scale: 'usd', label: '$/MWh' }, { scale: 'btc', side: 1, label: 'BTC $', grid: { show: false } }],
        series: [
          {},
          { label: `${powerFeed} $/MWh`, scale: 'usd', stroke: '#1d2330', width: 1.5, spanGaps: true },
          ...strikes.map((s, i) => ({ label: `strike ${s.model}`, scale: 'usd', stroke: colors[i % colors.length], dash: [6, 4] })),
          { label: 'BTC $', scale: 'btc', stroke: '#999', spanGaps: true },
        ],
      },
      series(),
      container,
    );
    return {
      add(feed, atMs, value) {
        const t = Math.floor(atMs / 1000);
        (feed === powerFeed ? power : btc).set(t, value);
        if (!times.includes(t)) {
          times.push(t);
          times.sort((a, b) => a - b);
          // a day's window: older points leave as new ones come
          while (times.length > 2 && times[times.length - 1] - times[0] > 24 * 3600) times.shift();
        }
        plot.setData(series());
      },
    };
  };

  const operatorView = async (view) => {
    const { facilities, latestPrices, strikePrices } = await gql(`{ facilities { id name marketNode powerBudgetKw } latestPrices { feed at priceMicroUsd } strikePrices { facilityId model strikeUsdPerMwh } }`);
    const [first] = facilities;
    const powerFeed = (first && latestPrices.find((p) => p.feed === `power-${first.marketNode.toLowerCase()}`)?.feed) ?? latestPrices.find((p) => p.feed.startsWith('power-'))?.feed;

    // prices: a day of 15-minute bars up to the latest tick, then every tick live
    const chartSection = view.appendChild(h('section', { class: 'wide' }, h('h2', {}, 'Electricity price against strike prices, and BTC'), h('div', { class: 'muted' }, 'latest tick ', h('span', { 'data-live': 'price-at' }, '—')), h('div', { id: 'price-chart' })));
    const latestAt = Math.max(0, ...latestPrices.map((p) => Date.parse(p.at)));
    const from = new Date(latestAt - 24 * 3600_000).toISOString();
    const to = new Date(latestAt + 1).toISOString();
    const bars = async (feed) =>
      feed ? new Map((await gql(`query($f: String!, $from: String!, $to: String!) { prices(feed: $f, from: $from, to: $to, bucket: FIFTEEN_MINUTES) { start closeUsd } }`, { f: feed, from, to })).prices.map((b) => [Math.floor(Date.parse(b.start) / 1000), b.closeUsd])) : new Map();
    const strikes = strikePrices.filter((s) => !first || s.facilityId === first.id);
    const chart = latestAt ? priceChart(chartSection.querySelector('#price-chart'), { powerFeed, strikes, power: await bars(powerFeed), btc: await bars('btc-usd') }) : undefined;
    if (latestAt) chartSection.querySelector('[data-live="price-at"]').textContent = new Date(latestAt).toISOString();
    // feeds catching up after a hand-over arrive out of order: the label shows the latest tick seen, never an earlier one
    let shownAt = latestAt;
    live(`subscription { priceTicked { feed at priceMicroUsd } }`, {}, ({ priceTicked: p }) => {
      if (p.feed !== powerFeed && p.feed !== 'btc-usd') return;
      chart?.add(p.feed, Date.parse(p.at), p.priceMicroUsd / 1e6);
      if (Date.parse(p.at) <= shownAt) return;
      shownAt = Date.parse(p.at);
      chartSection.querySelector('[data-live="price-at"]').textContent = p.at;
    });

    // hashprice: what a TH/s earns a day at the latest BTC price and network
    const { networkStats } = await gql(`{ networkStats { at difficulty subsidySats feesPerBlockSats } }`);
    const btcNow = latestPrices.find((p) => p.feed === 'btc-usd');
    if (networkStats && btcNow) {
      const hashrateThs = (networkStats.difficulty * 2 ** 32) / 600 / 1e12;
      const perDay = ((144 * (networkStats.subsidySats + networkStats.feesPerBlockSats)) / 1e8) * (btcNow.priceMicroUsd / 1e6);
      chartSection.append(h('div', { class: 'muted' }, `hashprice $${(perDay / hashrateThs).toFixed(4)} per TH/s a day (BTC $${Math.round(btcNow.priceMicroUsd / 1e6).toLocaleString()}, network ${(hashrateThs / 1e6).toFixed(0)} EH/s, ${networkStats.at})`));
    }

    // power: each facility's draw as the controller set it, interval by interval, against its budget
    const powerSection = view.appendChild(h('section', { class: 'wide' }, h('h2', {}, 'Power by facility against budget (kW, per decision)'), h('div', { id: 'power-chart' })));
    const draws = new Map();
    /** Per facility, per interval: the draw by fleet and mode. */
    const splits = new Map();
    for (const f of facilities) {
      const { recommendations } = await gql(`query($f: ID!) { recommendations(facilityId: $f, first: 96) { intervalStart totalKw budgetKw ${POWER} } }`, { f: f.id });
      draws.set(f.id, new Map(recommendations.map((r) => [Math.floor(Date.parse(r.intervalStart) / 1000), r.totalKw])));
      splits.set(f.id, new Map(recommendations.map((r) => [Math.floor(Date.parse(r.intervalStart) / 1000), r.power])));
    }
    const powerTimes = () => [...new Set([...draws.values()].flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
    const powerData = () => {
      const t = powerTimes();
      return [t, ...facilities.map((f) => t.map((x) => draws.get(f.id).get(x) ?? null)), ...facilities.map((f) => t.map(() => f.powerBudgetKw))];
    };
    const palette = ['#1b5fb0', '#c77800', '#2a9d8f', '#8a3ab9'];
    const powerPlot = new uPlot(
      {
        width: Math.max(320, powerSection.clientWidth - 40),
        height: 220,
        scales: { x: { time: true } },
        axes: [{}, { size: 70, values: (_u, ticks) => ticks.map((v) => `${Math.round(v).toLocaleString()}`) }],
        series: [{}, ...facilities.map((f, i) => ({ label: `${f.id} kW`, stroke: palette[i % palette.length], spanGaps: true })), ...facilities.map((f, i) => ({ label: `${f.id} budget`, stroke: palette[i % palette.length], dash: [4, 4], width: 1 }))],
      },
      powerData(),
      powerSection.querySelector('#power-chart'),
    );
    // the same draw by fleet and mode, every facility together: what mining has, what AI has, what idles
    const splitSection = view.appendChild(h('section', { class: 'wide' }, h('h2', {}, 'Power by fleet and mode, every facility (kW, per decision)'), h('div', { id: 'split-chart' })));
    const PARTS = [['miningKw', 'ASICs mining', '#c77800'], ['aiKw', 'GPUs serving or training', '#1b5fb0'], ['warmReserveKw', 'GPUs warm for P1', '#2a9d8f'], ['idleKw', 'idle (asleep, off)', '#999']];
    const splitData = () => {
      const t = powerTimes();
      // a facility without a decision at an interval adds its latest before it
      const at = (f, x) => {
        let best;
        for (const [time, split] of splits.get(f.id)) if (time <= x && (!best || time > best[0])) best = [time, split];
        return best?.[1];
      };
      return [t, ...PARTS.map(([key]) => t.map((x) => facilities.reduce((sum, f) => sum + (at(f, x)?.[key] ?? 0), 0)))];
    };
    const splitPlot = new uPlot(
      {
        width: Math.max(320, splitSection.clientWidth - 40),
        height: 220,
        scales: { x: { time: true } },
        axes: [{}, { size: 70, values: (_u, ticks) => ticks.map((v) => `${Math.round(v).toLocaleString()}`) }],
        series: [{}, ...PARTS.map(([, label, stroke]) => ({ label, stroke, width: 1.5, spanGaps: true }))],
      },
      splitData(),
      splitSection.querySelector('#split-chart'),
    );
    live(`subscription { recommendationIssued { facilityId intervalStart totalKw ${POWER} } }`, {}, ({ recommendationIssued: r }) => {
      const t = Math.floor(Date.parse(r.intervalStart) / 1000);
      draws.get(r.facilityId)?.set(t, r.totalKw);
      splits.get(r.facilityId)?.set(t, r.power);
      // a day's window, as the price chart keeps
      for (const m of [...draws.values(), ...splits.values()]) for (const k of m.keys()) if (k < t - 24 * 3600) m.delete(k);
      powerPlot.setData(powerData());
      splitPlot.setData(splitData());
    });

    // facilities: KPIs and the controller's latest decision, each kept current
    for (const f of facilities) {
      const { facilityKpis, recommendation } = await gql(`query($f: ID!) { facilityKpis(facilityId: $f) { ${KPIS} } recommendation(facilityId: $f) { ${RECOMMENDATION} } }`, { f: f.id });
      let kpis = view.appendChild(kpiSection(facilityKpis[0]));
      let decision = view.appendChild(recommendationSection(recommendation, f.id));
      live(`subscription($f: ID) { kpisUpdated(facilityId: $f) { ${KPIS} } }`, { f: f.id }, ({ kpisUpdated }) => {
        const next = kpiSection(kpisUpdated);
        kpis.replaceWith(next);
        kpis = next;
      });
      live(`subscription($f: ID) { recommendationIssued(facilityId: $f) { ${RECOMMENDATION} } }`, { f: f.id }, ({ recommendationIssued }) => {
        const next = recommendationSection(recommendationIssued, f.id);
        decision.replaceWith(next);
        decision = next;
      });
    }

    // switches: the latest, each row updated as its phases complete
    const SWITCH = `id resourceId from to status phasesDone phasesTotal controlPathMs physicalMs requestedAt finishedAt reason phases { phase durationMs }`;
    // the timeline: a day of switches, one row per resource, each a mark from request to end in the colour of its target mode
    const timeline = view.appendChild(h('section', { class: 'wide' }, h('h2', {}, 'Switch timeline (up to a day of market time; colour: the mode switched to)'), h('div', { id: 'switch-timeline' })));
    const seen = new Map((await gql(`{ switches(first: 500) { ${SWITCH} } }`)).switches.map((s) => [s.id, s]));
    const drawTimeline = () => {
      const all = [...seen.values()];
      const end = Math.max(0, ...all.map((s) => Date.parse(s.finishedAt ?? s.requestedAt)));
      for (const [id, s] of seen) if (Date.parse(s.requestedAt) < end - 24 * 3600_000) seen.delete(id);
      // from the earliest switch kept (at least an hour before the end): a young platform's fill the width
      const start = Math.min(end - 3600_000, ...[...seen.values()].map((s) => Date.parse(s.requestedAt)));
      const rows = [...new Set([...seen.values()].map((s) => s.resourceId))].sort();
      const [left, width, rowHeight] = [170, Math.max(320, timeline.clientWidth - 40), 16];
      const x = (t) => left + ((t - start) / (end - start || 1)) * (width - left - 8);
      const svg = svgNode('svg', { width, height: rows.length * rowHeight + 20, role: 'img', 'aria-label': 'switch timeline' });
      rows.forEach((r, i) => svg.append(svgNode('text', { x: 0, y: i * rowHeight + 12, 'font-size': 11 }, r)));
      for (const s of seen.values()) {
        const from = Date.parse(s.requestedAt);
        const to = s.finishedAt ? Date.parse(s.finishedAt) : end;
        const mark = svgNode('rect', { x: x(from), y: rows.indexOf(s.resourceId) * rowHeight + 2, width: Math.max(3, x(to) - x(from)), height: rowHeight - 4, fill: MODE_COLOURS[s.to] ?? '#667', stroke: s.status === 'failed' ? '#a12' : 'none', 'data-switch-mark': s.id });
        mark.append(svgNode('title', {}, `${s.resourceId}: ${s.from} → ${s.to}, ${s.status}, requested ${s.requestedAt}`));
        svg.append(mark);
      }
      svg.append(svgNode('text', { x: left, y: rows.length * rowHeight + 16, 'font-size': 11, fill: '#667' }, new Date(start).toISOString().slice(0, 16)));
      svg.append(svgNode('text', { x: width - 8, y: rows.length * rowHeight + 16, 'font-size': 11, fill: '#667', 'text-anchor': 'end' }, new Date(end).toISOString().slice(0, 16)));
      timeline.querySelector('#switch-timeline').replaceChildren(svg);
    };
    drawTimeline();
    const switchRow = (s) =>
      h('tr', { 'data-switch': s.id },
        h('td', {}, s.requestedAt), h('td', {}, s.resourceId), h('td', {}, `${s.from} → ${s.to}`), h('td', { class: `status-${s.status}` }, s.status),
        h('td', { class: 'muted' }, s.phases.map((p) => `${p.phase} ${ms(p.durationMs)}`).join(' · ') || `${s.phasesDone}/${s.phasesTotal}`),
        h('td', { class: 'num' }, ms(s.controlPathMs)), h('td', { class: 'num' }, ms(s.physicalMs)));
    const { switches } = await gql(`{ switches(first: 12) { ${SWITCH} } }`);
    const body = h('tbody', {}, switches.map(switchRow));
    view.appendChild(h('section', { class: 'wide' }, h('h2', {}, 'Switches'), h('table', {}, h('thead', {}, h('tr', {}, ['requested', 'resource', 'mode', 'status', 'phases (duration)', 'control path', 'ramp'].map((x) => h('th', {}, x)))), body)));
    live(`subscription { switchProgress { ${SWITCH} } }`, {}, ({ switchProgress: s }) => {
      seen.set(s.id, s);
      drawTimeline();
      const row = switchRow(s);
      const old = body.querySelector(`[data-switch="${CSS.escape(s.id)}"]`);
      if (old) old.replaceWith(row);
      else body.prepend(row);
      while (body.children.length > 12) body.lastChild.remove();
    });
  };

  // ---------------------------------------------------------------- customer ------------------
  const WORKLOAD = `id model gpuType gpuCount priority status submittedAt updatedAt
    usage { costSoFar { usd } } sla { p99Ms latencyTargetMs met }`;
  const customerView = async (view, customer) => {
    const quota = view.appendChild(h('section', {}, h('h2', {}, 'Quota')));
    const spend = view.appendChild(h('section', {}, h('h2', {}, 'This month')));
    const refreshMoney = async () => {
      const { balance, usage, invoices } = await gql(`{ balance { granted { gpuHours budgetMicroUsd } reserved { gpuHours budgetMicroUsd } consumed { gpuHours budgetMicroUsd } available { gpuHours budgetMicroUsd } }
        usage { month status lines gpuHours subtotal { usd } credits { usd } total { usd } } invoices { month total { usd } issuedAt } }`);
      const amount = (a) => `${a.gpuHours.toFixed(1)} GPU-h · ${usd(a.budgetMicroUsd)}`;
      quota.replaceChildren(h('h2', {}, 'Quota'), h('div', { class: 'kv' }, ...['available', 'reserved', 'consumed', 'granted'].flatMap((k) => [h('span', {}, k), h('span', { 'data-live': `quota-${k}` }, amount(balance[k]))])));
      spend.replaceChildren(
        h('h2', {}, `This month (${usage.month}, ${usage.status})`),
        h('div', { class: 'kv' }, h('span', {}, 'runs billed'), h('span', { 'data-live': 'usage-lines' }, usage.lines), h('span', {}, 'GPU hours'), h('span', {}, usage.gpuHours.toFixed(2)), h('span', {}, 'spend'), h('span', { 'data-live': 'usage-total' }, `${usage.total.usd} (credits ${usage.credits.usd})`)),
        h('h2', {}, 'Invoices'),
        invoices.length ? table([['month'], ['total', 1], ['issued']], invoices.map((i) => h('tr', {}, h('td', {}, i.month), h('td', { class: 'num' }, i.total.usd), h('td', {}, i.issuedAt)))) : h('p', { class: 'muted' }, 'none yet'),
      );
    };
    await refreshMoney();
    let pending;
    const refreshSoon = () => (pending ??= setTimeout(() => ((pending = undefined), refreshMoney().catch(showError)), 1000));

    const latency = (sla) => (sla.p99Ms === null || sla.p99Ms === undefined ? '—' : `${ms(sla.p99Ms)}${sla.latencyTargetMs ? ` / ${ms(sla.latencyTargetMs)}` : ''}`);
    const row = (w) =>
      h('tr', { 'data-workload-id': w.id },
        h('td', {}, w.id), h('td', {}, w.model), h('td', {}, `${w.gpuCount} × ${w.gpuType}`), h('td', {}, w.priority ?? '—'),
        h('td', { class: `status-${w.status}`, 'data-status': w.status }, w.status),
        h('td', { class: 'num' }, latency(w.sla)), h('td', {}, w.sla.met ? 'met' : 'breached'),
        h('td', { class: 'num', 'data-cost': '' }, w.usage.costSoFar.usd), h('td', {}, w.updatedAt));
    const { workloads } = await gql(`{ workloads(first: 50) { nodes { ${WORKLOAD} } } }`);
    const body = h('tbody', {}, workloads.nodes.map(row));
    view.prepend(h('section', { class: 'wide' }, h('h2', {}, `Workloads of ${customer.name}`), h('table', {}, h('thead', {}, h('tr', {}, ['workload', 'model', 'GPUs', 'tier', 'status', 'p99 / target', 'SLA', 'cost so far', 'updated'].map((x) => h('th', {}, x)))), body)));
    live(`subscription { workloadUpdated { ${WORKLOAD} } }`, {}, ({ workloadUpdated: w }) => {
      const next = row(w);
      const old = body.querySelector(`[data-workload-id="${CSS.escape(w.id)}"]`);
      if (old) old.replaceWith(next);
      else body.prepend(next);
      while (body.children.length > 50) body.lastChild.remove();
      refreshSoon();
    });
  };

  // ---------------------------------------------------------------- sign in -------------------
  const start = async () => {
    stop();
    const view = $('#view');
    view.replaceChildren();
    $('#api-key').value = keyOf();
    if (!keyOf()) return view.append(h('p', { class: 'hint' }, 'Sign in with an API key.'));
    const url = new URL('/graphql', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    client = graphqlWs.createClient({
      url: url.href,
      connectionParams: { authorization: `Bearer ${keyOf()}` },
      retryAttempts: Infinity,
      on: { connected: () => setLive(true), closed: () => setLive(false) },
    });
    try {
      const { me } = await gql(`{ me { role customer { id name } } }`);
      $('#who').textContent = me.customer ? `${me.customer.name} (customer)` : me.role;
      document.body.dataset.view = me.role === 'customer' ? 'customer' : 'operator';
      await (me.role === 'customer' ? customerView(view, me.customer) : operatorView(view));
    } catch (error) {
      showError(error);
    }
  };
  const setLive = (on) => {
    $('#live').dataset.state = on ? 'on' : 'off';
    $('#live').textContent = on ? 'live' : 'offline';
  };
  $('#sign-in').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem('hcp-api-key', $('#api-key').value.trim());
    void start();
  });
  void start();
})();
