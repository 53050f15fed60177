'use strict'
// Reads the symbol versions a Linux shared object needs from its libraries — what
// `readelf -V` prints under ".gnu.version_r" — from the ELF file itself, so the glibc baseline
// check needs no binutils. ELF64 little-endian only (x86_64, aarch64); anything else throws.
// Layout: the System V gABI (section headers) and the LSB spec (Elfxx_Verneed, Elfxx_Vernaux).

const fs = require('node:fs')

const SHT_GNU_VERNEED = 0x6ffffffe

function cString(buf, offset) {
  const end = buf.indexOf(0, offset)
  return buf.toString('latin1', offset, end < 0 ? buf.length : end)
}

/** `[{ file: 'libc.so.6', version: 'GLIBC_2.17' }, ...]`: every version the object needs. */
function neededVersions(file) {
  const buf = fs.readFileSync(file)
  if (buf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`)
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`)
  const shoff = Number(buf.readBigUInt64LE(0x28))
  const shentsize = buf.readUInt16LE(0x3a)
  const shnum = buf.readUInt16LE(0x3c)
  const section = (i) => {
    const at = shoff + i * shentsize
    return {
      type: buf.readUInt32LE(at + 4),
      offset: Number(buf.readBigUInt64LE(at + 0x18)),
      link: buf.readUInt32LE(at + 0x28),
      info: buf.readUInt32LE(at + 0x2c),
    }
  }
  const out = []
  for (let i = 0; i < shnum; i++) {
    const s = section(i)
    if (s.type !== SHT_GNU_VERNEED) continue
    const strtab = section(s.link).offset
    // sh_info is the number of Verneed entries; each links to the next by vn_next.
    let need = s.offset
    for (let n = 0; n < s.info; n++) {
      const libFile = cString(buf, strtab + buf.readUInt32LE(need + 4))
      const auxCount = buf.readUInt16LE(need + 2)
      let aux = need + buf.readUInt32LE(need + 8)
      for (let a = 0; a < auxCount; a++) {
        out.push({ file: libFile, version: cString(buf, strtab + buf.readUInt32LE(aux + 8)) })
        aux += buf.readUInt32LE(aux + 12)
      }
      need += buf.readUInt32LE(need + 12)
    }
  }
  return out
}

/** Compares dotted versions numerically: `'2.9' < '2.17'`. */
function compareVersions(a, b) {
  const x = a.split('.').map(Number)
  const y = b.split('.').map(Number)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0)
    if (d !== 0) return d
  }
  return 0
}

/** The glibc versions (`'2.17'`, ...) the object needs, highest last. */
function glibcVersions(file) {
  const versions = neededVersions(file)
    .map((v) => /^GLIBC_(\d+(?:\.\d+)*)$/.exec(v.version))
    .filter(Boolean)
    .map((m) => m[1])
  return [...new Set(versions)].sort(compareVersions)
}

module.exports = { neededVersions, glibcVersions, compareVersions }
