#!/bin/bash
systemctl stop haproxy
