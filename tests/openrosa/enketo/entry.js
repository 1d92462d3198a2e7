// enketo-core in a test page: turn an XForm into Enketo's HTML form (enketo-transformer's
// browser build), start the form with the form's media as external instances, and hand the
// record the engine produces back to the test (tests/openrosa/test_openrosa_enketo.py).
import { transform } from 'enketo-transformer/web';
import { Form } from 'enketo-core';
import fileManager from 'enketo-core/src/js/file-manager';

// A CSV media file as the XML secondary instance Enketo reads (<root><item>...</item></root>),
// as Enketo Express makes it from a form's CSV attachments.
function csvToXml(text) {
    const rows = [];
    let row = [''];
    let quoted = false;
    for (let i = 0; i < text.length; i += 1) {
        const c = text[i];
        if (quoted) {
            if (c === '"' && text[i + 1] === '"') { row[row.length - 1] += '"'; i += 1; }
            else if (c === '"') { quoted = false; }
            else { row[row.length - 1] += c; }
        } else if (c === '"') { quoted = true; }
        else if (c === ',') { row.push(''); }
        else if (c === '\n') { rows.push(row); row = ['']; }
        else if (c !== '\r') { row[row.length - 1] += c; }
    }
    if (row.length > 1 || row[0] !== '') rows.push(row);
    const doc = document.implementation.createDocument(null, 'root', null);
    const [header, ...data] = rows;
    data.forEach((values) => {
        const item = doc.createElement('item');
        header.forEach((name, index) => {
            const node = doc.createElement(name);
            node.textContent = values[index] ?? '';
            item.appendChild(node);
        });
        doc.documentElement.appendChild(item);
    });
    return doc;
}

let current = null;

export async function render(xform, media) {
    const survey = await transform({ xform, media: {} });
    const container = document.getElementById('form');
    container.innerHTML = survey.form;
    const external = Object.entries(media).map(([filename, text]) => ({
        id: filename.replace(/\.csv$/, ''), xml: csvToXml(text),
    }));
    const formEl = container.querySelector('form.or');
    current = new Form(formEl, { modelStr: survey.model, external }, { language: 'zh' });
    return current.init();
}

export async function record() {
    const valid = await current.validate();
    const invalid = [...document.querySelectorAll('.invalid-required, .invalid-constraint')]
        .map((el) => el.querySelector('[data-name], [name]')?.getAttribute('data-name')
            || el.querySelector('[name]')?.getAttribute('name'));
    return { valid, invalid, xml: current.getDataStr() };
}

export function value(path) {
    return current.model.node(path).getVal();
}

// The files Enketo would upload with the record (named as the record names them), as base64.
export async function files() {
    const found = fileManager.getCurrentFiles();
    return Promise.all(found.map(async (file) => {
        const bytes = new Uint8Array(await file.arrayBuffer());
        let text = '';
        bytes.forEach((b) => { text += String.fromCharCode(b); });
        return { name: file.name, base64: btoa(text) };
    }));
}
