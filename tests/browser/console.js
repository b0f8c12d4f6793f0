// The supervisors' web console in a real browser (Debian's chromium, driven by playwright-core),
// against a real server and device stores used through the `jingtu` command line:
//
// - an inspector's login is refused; the supervisor logs in, filters the queue, opens an
//   inspection and returns it with a comment on one checklist item;
// - the inspector's store syncs and shows that comment where to fix; the inspector fixes and
//   resubmits; the supervisor approves; the inspector sees it approved;
// - a conflict made by the inspector's phone and the supervisor's tablet is resolved in the
//   browser and reaches both devices;
// - an enrollment code is issued with its QR code, and a phone enrolls with it;
// - assignments are given, handed over and taken back; a phone is revoked;
// - a soil sample's chain of custody shows verified, with its flags, on its record page;
// - a change without the session's CSRF token is refused;
// - the county ledgers: a water body that relapsed after acceptance and one accepted without
//   treatment, and a sewage facility that missed its second-quarter inspection.
//
// Screenshots of each page go to $JINGTU_SCREENSHOTS. Run by tests/browser/run.sh.

const { chromium } = require('playwright-core');
const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const SERVER = process.env.JINGTU_SERVER_BIN;
const CLI = process.env.JINGTU_CLI_BIN;
const WORK = process.env.JINGTU_WORK;
const SHOTS = process.env.JINGTU_SCREENSHOTS;
const DATA = path.join(WORK, 'server');
const PASSWORD = '县审核-2024秋';

let failures = 0;
function check(what, ok, detail) {
  if (ok) {
    console.log(`ok   ${what}`);
  } else {
    failures += 1;
    console.log(`FAIL ${what}${detail ? `: ${detail}` : ''}`);
  }
}

function admin(args, input) {
  return execFileSync(SERVER, ['--data-dir', DATA, 'admin', ...args], {
    input: input ?? '',
    encoding: 'utf8',
  }).trim();
}

/** `jingtu --store STORE --json ARGS`: the parsed answer (throws on failure). */
function jt(store, args) {
  const out = execFileSync(CLI, ['--store', path.join(WORK, store), '--json', ...args], {
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

async function startServer() {
  fs.mkdirSync(DATA, { recursive: true });
  // Plain http on loopback: session cookies without `Secure`.
  const config = path.join(WORK, 'server.toml');
  fs.writeFileSync(config, 'insecure_cookies = true\n');
  const child = spawn(SERVER, ['--config', config, '--data-dir', DATA, 'serve', '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise((resolve, reject) => {
    let seen = '';
    const look = (chunk) => {
      seen += chunk.toString();
      const m = seen.match(/http:\/\/127\.0\.0\.1:\d+/);
      if (m) resolve(m[0]);
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('exit', (code) => reject(new Error(`the server stopped (${code}): ${seen}`)));
    setTimeout(() => reject(new Error(`no address from the server: ${seen}`)), 30000);
  });
  return { child, url };
}

/**
 * What a screen reader needs of a page: every visible form control has a label (a <label>, or
 * aria-label), every button a name, every image an alt text. Returns the controls that lack one.
 */
async function unlabelled(page) {
  return page.evaluate(() => {
    const missing = [];
    const named = (el) => (el.getAttribute('aria-label') || '').trim() !== '' ||
      (el.labels && [...el.labels].some((l) => l.textContent.trim() !== ''));
    for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
      if (!named(el)) missing.push(`${el.tagName.toLowerCase()}[name=${el.name}]`);
    }
    for (const el of document.querySelectorAll('button')) {
      if (el.textContent.trim() === '' && !named(el)) missing.push(`button in ${el.form?.action}`);
    }
    for (const el of document.querySelectorAll('img')) {
      if (!el.hasAttribute('alt')) missing.push(`img ${el.src.slice(0, 40)}`);
    }
    return missing;
  });
}

function inspection(store, items, village) {
  const id = jt(store, ['new', 'village_inspection', '--org-unit', '411321102206', '--village', village]).id;
  const set = [
    ['village_name', village], ['admin_code', '411321102206'], ['township', '云阳镇'],
    ['eval_year', '2024'], ['eval_half', '1'], ['eval_level', 'county_self'],
    ['inspected_at', '2024-07-16T09:30:00+08:00'],
    ['position', '{"lat":33.488612,"lon":112.431275,"accuracy_m":4.5}'],
    ['indicators.sewage_treatment_rate_pct', '65.5'], ['indicators.bow_remediation_rate_pct', '100'],
    ['indicators.water_source_completion_pct', '85'],
  ];
  for (const [p, v] of set) jt(store, ['set', id, p, v]);
  jt(store, ['append', id, 'inspectors', '"王建军"']);
  for (const item of items) jt(store, ['check', id, item, 'pass']);
  return id;
}

const PHOTO = 'tests/fuzz/corpus/image_ingest/baseline_64x48.jpg';

/** A water body check filled, given the photos its template asks for, and submitted. */
function waterCheck(store, body, at, type, stage, colour) {
  const id = jt(store, ['new', 'water_body_check', '--org-unit', '411321102206', '--village', '杨树沟村']).id;
  const set = [
    ['body_code', body.code], ['body_name', body.name], ['body_type', 'pond'], ['check_type', type],
    ['admin_code', '411321102206'], ['village_name', '杨树沟村'], ['checked_at', at],
    ['location', '{"lat":33.488612,"lon":112.431275}'],
    ['sensory', `{"color":"${colour}","odor":"none"}`], ['lifecycle', stage],
  ];
  for (const [p, v] of set) jt(store, ['set', id, p, v]);
  for (const m of jt(store, ['show', id]).missing_photos) {
    jt(store, ['photo', 'add', id, '-', PHOTO, '--tag', m.tag]);
  }
  jt(store, ['submit', id]);
  return id;
}

/** A sewage facility inspection of 180 t/day, submitted. */
function facilityVisit(store, type, at) {
  const id = jt(store, ['new', 'sewage_facility_inspection', '--org-unit', '411321102206']).id;
  const set = [
    ['facility_name', '云阳镇污水处理站'], ['facility_code', 'WS-411321102'],
    ['admin_code', '411321102000'], ['township', '云阳镇'], ['design_capacity_t_d', '120'],
    ['actual_flow_t_d', '180'], ['inspection_type', type], ['inspected_at', at],
    ['facility_status', 'normal'], ['inspectors', '["王建军"]'],
    ['online_monitoring', '{"flow_meter":true,"video":false}'],
  ];
  if (type === 'half_year_monitoring') {
    set.push(['inlet', '{"cod_mg_l":250,"nh3n_mg_l":30,"sampled_at":"2024-06-05T09:20:00+08:00"}']);
    set.push(['outlet', '{"cod_mg_l":45,"nh3n_mg_l":12,"sampled_at":"2024-06-05T09:40:00+08:00"}']);
  }
  for (const [p, v] of set) jt(store, ['set', id, p, v]);
  jt(store, ['submit', id]);
  return id;
}

(async () => {
  const { child, url } = await startServer();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const csv = path.join(WORK, 'org.csv');
    fs.writeFileSync(csv, 'code,name,level,parent\n410000000000,河南省,,\n411300000000,南阳市,,\n' +
      '411321000000,南召县,,\n411321102000,云阳镇,,\n411321102206,杨树沟村,,\n');
    admin(['org', 'import', csv]);
    admin(['user', 'create', 'insp_yy', '--role', 'inspector', '--org', '411321102000', '--password-stdin'], 'phone-only-2024\n');
    admin(['user', 'create', 'insp_y2', '--role', 'inspector', '--org', '411321102000']);
    admin(['user', 'create', 'sup_nz', '--role', 'supervisor', '--org', '411321000000', '--password-stdin'], `${PASSWORD}\n`);
    const code = (user) => admin(['enroll-code', user]).split('\n')[0].trim();
    jt('yy', ['enroll', url, code('insp_yy'), '--label', '云阳镇巡查手机']);
    jt('tablet', ['enroll', url, code('sup_nz'), '--label', '县审核平板']);
    const template = JSON.parse(fs.readFileSync('schemas/templates/village_inspection.v2.json', 'utf8'));
    const items = template.properties.checklist.propertyNames.enum;
    const id = inspection('yy', items, '杨树沟村');
    jt('yy', ['submit', id]);
    const other = inspection('yy', items, '云阳村');
    jt('yy', ['sync']);

    const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, locale: 'zh-CN' });
    await page.goto(`${url}/queue`);
    check('without a session the console asks to log in', page.url().includes('/login'));
    check('the login page is in Chinese', (await page.textContent('h1')).includes('审核员、检测员登录'));
    await page.screenshot({ path: `${SHOTS}/01-login.png`, fullPage: true });
    await page.fill('#user', 'insp_yy');
    await page.fill('#password', 'phone-only-2024');
    await page.click('button[type=submit]');
    check('an inspector\'s login is refused', (await page.textContent('.error')).includes('用户名或密码不对'));

    await page.fill('#user', 'sup_nz');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL('**/queue');
    check('the supervisor reaches the queue', (await page.textContent('h1')).includes('审核队列'));
    await page.screenshot({ path: `${SHOTS}/02-queue.png`, fullPage: true });
    await page.fill('input[name=village]', '杨树');
    await page.click('form.filters button[type=submit]');
    await page.waitForLoadState();
    const rows = await page.locator('table.queue tbody tr').count();
    check('filtering by village leaves one record', rows === 1, `${rows} rows`);
    await page.click('nav.tabs a:has-text("待审核")');
    check('the submitted tab counts one', (await page.textContent('nav.tabs a.active')).includes('1'));
    await page.screenshot({ path: `${SHOTS}/03-queue-filtered.png`, fullPage: true });

    await page.click(`a[href="/records/${id}"]`);
    await page.waitForLoadState();
    check('the record page labels its fields', (await page.content()).includes('行政村名称'));
    await page.screenshot({ path: `${SHOTS}/04-record.png` });
    await page.screenshot({ path: `${SHOTS}/05-record-full.png`, fullPage: true });
    const item = items[4];
    await page.check('input[name=decision][value=return]');
    await page.fill('#note', '请核实');
    await page.selectOption('#path1', `checklist.${item}`);
    await page.fill('#text1', '杂物未清理，请补拍整治后照片');
    await page.click('form.review button[type=submit]');
    await page.waitForLoadState();
    check('the record is returned', (await page.textContent('h1')).includes('已退回'));
    check('the comment shows under 待整改', (await page.textContent('.fix')).includes('杂物未清理'));
    await page.screenshot({ path: `${SHOTS}/06-returned.png` });

    jt('yy', ['sync']);
    const shown = jt('yy', ['show', id]);
    check('the inspector\'s store shows the comment where to fix',
      shown.status === 'returned' && shown.to_fix.length === 1 && shown.to_fix[0].path === `checklist.${item}`,
      JSON.stringify(shown.to_fix));
    jt('yy', ['check', id, item, 'na']);
    jt('yy', ['submit', id]);
    jt('yy', ['sync']);

    await page.reload();
    check('the resubmitted record waits again', (await page.textContent('h1')).includes('待审核'));
    await page.check('input[name=decision][value=approve]');
    await page.click('form.review button[type=submit]');
    await page.waitForLoadState();
    check('the supervisor approves it', (await page.textContent('h1')).includes('已通过'));
    await page.screenshot({ path: `${SHOTS}/07-approved.png` });
    jt('yy', ['sync']);
    check('the inspector sees it approved', jt('yy', ['show', id]).status === 'approved');

    // A conflict: the phone and the tablet change the same field offline.
    jt('tablet', ['sync']);
    jt('yy', ['set', other, 'township', '城郊乡']);
    jt('tablet', ['set', other, 'township', '皇路店镇']);
    jt('yy', ['sync']);
    jt('tablet', ['sync']);
    await page.goto(`${url}/records/${other}`);
    const conflicts = await page.locator('form.conflict').count();
    check('the conflict shows side by side', conflicts === 1 &&
      (await page.textContent('form.conflict')).includes('城郊乡') &&
      (await page.textContent('form.conflict')).includes('皇路店镇'));
    await page.screenshot({ path: `${SHOTS}/08-conflict.png` });
    await page.fill('form.conflict input[name=typed]', '云阳镇');
    await page.click('form.conflict button[type=submit]');
    await page.waitForLoadState();
    check('the conflict is resolved', (await page.locator('form.conflict').count()) === 0);
    for (const store of ['yy', 'tablet']) {
      jt(store, ['sync']);
      const c = jt(store, ['conflicts', other]);
      const v = jt(store, ['show', other]).data.township;
      check(`the resolution reaches the ${store} store`, c.length === 0 && v === '云阳镇', `${v}`);
    }

    // A change without the session's CSRF token does nothing.
    const forged = await page.request.post(`${url}/records/${other}/review`, {
      form: { csrf: 'forged', decision: 'return', text1: 'x' },
      maxRedirects: 0,
    });
    check('a form without the CSRF token is refused', forged.status() === 403, `${forged.status()}`);

    // An enrollment code for a new inspector's phone, with its QR code; the phone enrolls
    // with the code shown.
    await page.goto(`${url}/enroll`);
    await page.fill('input[name=user]', 'insp_y2');
    await page.click('form.filters button[type=submit]');
    await page.waitForLoadState();
    const shownCode = (await page.textContent('#code')).trim();
    const qr = page.locator('img.qr');
    const qrOk = (await qr.count()) === 1 &&
      (await qr.evaluate((img) => img.complete && img.naturalWidth > 0));
    check('an enrollment code is issued and its QR shown', /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/.test(shownCode) && qrOk, shownCode);
    await page.screenshot({ path: `${SHOTS}/11-enrollment-code.png` });
    const who = jt('y2', ['enroll', url, shownCode]);
    check('a phone enrolls with the code from the page', who.user === 'insp_y2', JSON.stringify(who));

    // Assignments: give the village to the new inspector, then hand it over to insp_yy.
    await page.goto(`${url}/assignments`);
    await page.selectOption('form.give select[name=assignee]', 'insp_y2');
    await page.selectOption('form.give select[name=kind]', 'village_inspection');
    await page.selectOption('form.give select[name=target_kind]', 'village');
    await page.fill('form.give input[name=target]', '411321102206');
    await page.fill('form.give input[name=due_date]', '2024-08-31');
    await page.fill('form.give input[name=note]', '上半年县级自评');
    await page.click('form.give button[type=submit]');
    await page.waitForLoadState();
    check('an assignment is given', (await page.textContent('.notice')).includes('任务已分配') &&
      (await page.textContent('table.assignments')).includes('杨树沟村'));
    await page.screenshot({ path: `${SHOTS}/12-assignments.png`, fullPage: true });
    const y2Work = (jt('y2', ['sync']), jt('y2', ['assignments']));
    check('the assignment reaches the inspector\'s phone', y2Work.length === 1 && y2Work[0].target_name === '杨树沟村',
      JSON.stringify(y2Work));
    const row = page.locator('table.assignments tbody tr', { hasText: '杨树沟村' });
    await row.locator('select[name=assignee]').selectOption('insp_yy');
    await row.locator('form[action$="/reassign"] button').click();
    await page.waitForLoadState();
    check('it is handed over', (await page.textContent('.notice')).includes('任务已转交'));
    jt('y2', ['sync']);
    jt('yy', ['sync']);
    check('it moves from one phone to the other', jt('y2', ['assignments']).length === 0 &&
      jt('yy', ['assignments']).length === 1);
    check('the assignments page labels every control', (await unlabelled(page)).length === 0,
      (await unlabelled(page)).join(', '));

    // People and their phones: revoke the new inspector's phone.
    await page.goto(`${url}/people`);
    const y2Card = page.locator('section.person', { hasText: 'insp_y2' });
    check('the people page lists the phones', (await y2Card.textContent()).includes('使用中'));
    await page.screenshot({ path: `${SHOTS}/13-people.png`, fullPage: true });
    check('the people page labels every control', (await unlabelled(page)).length === 0,
      (await unlabelled(page)).join(', '));
    await y2Card.locator('button.danger').click();
    await page.waitForLoadState();
    check('a phone is revoked', (await page.textContent('.notice')).includes('设备已停用'));
    let refused = false;
    try { jt('y2', ['sync']); } catch (e) { refused = true; }
    check('the revoked phone syncs no more', refused);

    // A soil sample's chain of custody on its record page: handed over on the sampler's
    // phone, received short and with a broken seal on the county's tablet.
    admin(['user', 'create', 'samp_yy', '--role', 'sampler', '--org', '411321102000']);
    jt('samp', ['enroll', url, code('samp_yy'), '--label', '云阳镇采样手机']);
    const sampleA = jt('samp', ['new', 'soil_sample', '--org-unit', '411321102206']).id;
    const sampleB = jt('samp', ['new', 'soil_sample', '--org-unit', '411321102206']).id;
    jt('samp', ['set', sampleA, 'land_use', 'dryland_0103']);
    jt('samp', ['set', sampleA, 'point_code', '411321YJ0087']);
    jt('samp', ['custody', 'code', sampleA]);
    jt('samp', ['custody', 'add', sampleA, sampleB, '--step', '{"step": "collected"}']);
    jt('samp', ['custody', 'handover', sampleA, sampleB, '--batch', 'JJ-2024-07', '--to', 'sup_nz',
      '--to-org', '县制备室']);
    jt('samp', ['sync']);
    jt('tablet', ['sync']);
    jt('tablet', ['custody', 'receive', sampleA, '--batch', 'JJ-2024-07', '--received', '1',
      '--scanned', '--seal-broken']);
    jt('tablet', ['custody', 'add', sampleA, '--step',
      '{"step": "lab_hand_in", "blind_code": "MB-7741", "lab": "市环境监测中心"}']);
    jt('tablet', ['sync']);
    await page.goto(`${url}/records/${sampleA}`);
    const custody = await page.textContent('section.custody');
    check('the sample page shows its verified chain of custody',
      custody.includes('校验通过') && custody.includes('交接') && custody.includes('送检') &&
      custody.includes('MB-7741'), custody);
    check('a short count and a broken seal are flagged on it',
      custody.includes('交接 2 个样品，实收 1 个') && custody.includes('封条不完整'), custody);
    await page.locator('section.custody').screenshot({ path: `${SHOTS}/14-custody.png` });

    // The lab enters the sample's results under its blind code, in a page of its own.
    admin(['user', 'create', 'lab_nz', '--role', 'lab', '--org', '411321000000', '--password-stdin'],
      '检测中心-2024\n');
    const labPage = await (await browser.newContext({ locale: 'zh-CN' })).newPage();
    await labPage.goto(`${url}/login`);
    await labPage.fill('#user', 'lab_nz');
    await labPage.fill('#password', '检测中心-2024');
    await labPage.click('form button[type=submit]');
    await labPage.waitForLoadState();
    check('the lab lands on its list of blind codes', labPage.url().endsWith('/lab'), labPage.url());
    const labList = await labPage.textContent('main');
    check('the list shows the code, not the sample', labList.includes('MB-7741') &&
      !labList.includes(sampleA) && !labList.includes('杨树沟'), labList);
    await labPage.screenshot({ path: `${SHOTS}/15-lab-list.png`, fullPage: true });
    await labPage.click('text=MB-7741');
    await labPage.waitForLoadState();
    for (const [key, value] of [['ph', '6.2'], ['cd', '0.45'], ['as', '18'], ['pb', '60'], ['cr', '120']]) {
      await labPage.fill(`#v_${key}`, value);
    }
    await labPage.check('input[name=nd_hg]');
    await labPage.fill('#v_method', 'GB/T 17141-1997');
    const labMissing = await unlabelled(labPage);
    check('the lab form labels every control', labMissing.length === 0, labMissing.join(', '));
    await labPage.click('form.lab-form button[type=submit]');
    await labPage.waitForLoadState();
    const labSaved = await labPage.textContent('main');
    check('the results are saved and the sample is classed (安全利用类 at Cd 0.45, pH 6.2)',
      labSaved.includes('已保存') && labSaved.includes('安全利用类'), labSaved);
    await labPage.screenshot({ path: `${SHOTS}/16-lab-results.png`, fullPage: true });
    await page.goto(`${url}/records/${sampleA}`);
    const withResults = await page.textContent('main');
    check('the supervisor sees the lab results on the sample page',
      withResults.includes('0.45') && withResults.includes('安全利用类'), withResults);
    await page.screenshot({ path: `${SHOTS}/17-sample-with-results.png`, fullPage: true });

    // Printable labels of the samples the queue shows.
    await page.goto(`${url}/queue?kind=soil_sample`);
    await page.click('text=打印这些样品的标签');
    await page.waitForLoadState();
    const labelsText = await page.textContent('main');
    check('the label sheet shows the coded sample and counts the one without a code',
      (await page.locator('figure.label svg').count()) === 1 && labelsText.includes('411321YJ0087-T1') &&
      labelsText.includes('另有 1 个样品尚未编码'), labelsText);
    await page.screenshot({ path: `${SHOTS}/18-labels.png`, fullPage: true });
    await page.emulateMedia({ media: 'print' });
    check('printing shows the labels only', !(await page.isVisible('header.top')) &&
      await page.isVisible('figure.label'));
    await page.screenshot({ path: `${SHOTS}/19-labels-print.png`, fullPage: true });
    await page.emulateMedia({ media: 'screen' });

    // Exports of what the queue shows: a CSV download opens in Excel (UTF-8 with BOM) with
    // Chinese headings.
    await page.goto(`${url}/queue?kind=village_inspection`);
    const exportLinks = await page.locator('p.exports a').count();
    check('the queue offers CSV, Excel and GeoJSON downloads of a kind', exportLinks === 3);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('p.exports >> text=CSV'),
    ]);
    const saved = path.join(WORK, 'export.csv');
    await download.saveAs(saved);
    const csvBytes = fs.readFileSync(saved);
    const csvText = csvBytes.toString('utf8');
    check('the download is named after the kind', /^village_inspection-\d{8}\.csv$/.test(download.suggestedFilename()),
      download.suggestedFilename());
    check('the CSV starts with a BOM and has Chinese headings and the records',
      csvBytes[0] === 0xef && csvBytes[1] === 0xbb && csvBytes[2] === 0xbf &&
      csvText.includes('行政村名称') && csvText.includes('清垃圾·检查结果') && csvText.includes('杨树沟村'),
      csvText.slice(0, 300));
    await page.screenshot({ path: `${SHOTS}/22-queue-exports.png` });

    // The county ledgers. 东坑塘 goes through its whole life and relapses the next spring
    // (返黑返臭); 西沟渠 is recorded accepted straight after its screening; the sewage station
    // of 180 t/day was inspected in Q1 and monitored in H1, not inspected in Q2.
    const east = { code: '411321102206001', name: '杨树沟村东坑塘' };
    const west = { code: '411321102206002', name: '杨树沟村西沟渠' };
    waterCheck('yy', east, '2024-03-01T10:00:00+08:00', 'screening', 'identified', 'black');
    waterCheck('yy', east, '2024-05-01T10:00:00+08:00', 'recheck', 'under_treatment', 'blackish');
    waterCheck('yy', east, '2024-08-01T10:00:00+08:00', 'recheck', 'completed', 'normal');
    waterCheck('yy', east, '2024-10-01T10:00:00+08:00', 'recheck', 'accepted', 'normal');
    const relapse = waterCheck('yy', east, '2025-04-01T10:00:00+08:00', 'recheck', 'relapsed', 'greenish');
    waterCheck('yy', west, '2024-03-02T10:00:00+08:00', 'screening', 'identified', 'milky');
    const jump = waterCheck('yy', west, '2024-06-02T10:00:00+08:00', 'recheck', 'accepted', 'normal');
    facilityVisit('yy', 'quarterly_inspection', '2024-03-12T09:00:00+08:00');
    facilityVisit('yy', 'half_year_monitoring', '2024-06-05T09:00:00+08:00');
    jt('yy', ['sync']);
    await page.goto(`${url}/queue`);
    await page.click('header.top >> text=台账');
    await page.waitForLoadState();
    const bodies = await page.textContent('main');
    check('the ledger lists both bodies with their stages',
      bodies.includes('杨树沟村东坑塘') && bodies.includes('杨树沟村西沟渠') &&
      bodies.includes('已验收销号'), bodies);
    check('the relapse is flagged (返黑返臭) and counted',
      (await page.locator('tr.relapsed').count()) === 1 && bodies.includes('返黑返臭 1 个'), bodies);
    check('the jump from identified to accepted is listed on its record',
      bodies.includes('状态不能从“已排查识别”变为“已验收销号”') &&
      (await page.locator(`a[href="/records/${jump}"]`).count()) >= 1, bodies);
    check('each check links to its record', (await page.locator(`a[href="/records/${relapse}"]`).count()) === 1);
    await page.click(`a[href="/records/${jump}"] >> nth=0`);
    await page.waitForLoadState();
    const jumpPage = await page.textContent('main');
    check('the record of the jump shows the refused transition among its issues',
      jumpPage.includes('状态不能从“已排查识别”变为“已验收销号”'), jumpPage);
    await page.goto(`${url}/ledger/water-bodies`);
    await page.screenshot({ path: `${SHOTS}/20-ledger-water-bodies.png`, fullPage: true });
    await page.click('text=污水处理设施巡查监测');
    await page.fill('input[name=year]', '2024');
    await page.fill('input[name=as_of]', '2024-08-15');
    await page.click('form.filters button[type=submit]');
    await page.waitForLoadState();
    const facilities = await page.textContent('main');
    check('the facility missed its second quarter', facilities.includes('2024-Q2 漏查') &&
      facilities.includes('2024-Q1 已完成') && facilities.includes('2024-H1 已完成') &&
      facilities.includes('1 个有漏查或漏测'), facilities);
    check('its video is not in place yet (due by the end of December)',
      facilities.includes('出水量和视频监控（期限 2024-12-31）：未完成'), facilities);
    await page.screenshot({ path: `${SHOTS}/21-ledger-facilities.png`, fullPage: true });
    for (const where of ['/ledger/water-bodies', '/ledger/facilities']) {
      await page.goto(`${url}${where}`);
      const missing = await unlabelled(page);
      check(`${where} labels every control`, missing.length === 0, missing.join(', '));
    }

    // Keyboard and screen readers: the first Tab reaches the skip link; the queue, record and
    // enrollment pages label every control.
    await page.goto(`${url}/queue`);
    await page.keyboard.press('Tab');
    check('the first Tab reaches "跳到正文"', await page.evaluate(() => document.activeElement.className === 'skip'));
    for (const where of ['/queue', `/records/${id}`, `/records/${other}`, '/enroll']) {
      await page.goto(`${url}${where}`);
      const missing = await unlabelled(page);
      check(`${where} labels every control`, missing.length === 0, missing.join(', '));
    }

    // English, and a tablet.
    await page.goto(`${url}/queue?lang=en`);
    check('the English switch works', (await page.textContent('h1')).includes('Review queue'));
    await page.screenshot({ path: `${SHOTS}/09-queue-en.png`, fullPage: true });
    const tablet = await browser.newPage({ viewport: { width: 800, height: 1280 } });
    await tablet.context().addCookies(await page.context().cookies());
    await tablet.goto(`${url}/records/${id}?lang=zh`);
    await tablet.screenshot({ path: `${SHOTS}/10-record-tablet.png` });
  } finally {
    await browser.close();
    child.kill();
  }
  if (failures > 0) {
    console.log(`${failures} check(s) failed`);
    process.exit(1);
  }
  console.log('all browser checks passed');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
